"""The dispatch page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium) against a real
worker on Kafka and Redis: it loads, shows a route after a cycle, changes on the next one without a reload."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from schemas import FraudReview, FraudScore, GeoPoint, OrderEvent, ScoreReason, TimeWindow
from tests.agents.routes.test_route_cycle import CENTRE, feed, route_engine, start_worker
from tests.support import ROOT, produce, wait_for

pytestmark = pytest.mark.integration

SCREENSHOT = ROOT / "docs" / "images" / "dispatch-page.png"
FLEET = "fleet-web"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    """Headless Debian chromium through the system chromedriver; Selenium Manager is told to stay offline."""
    binary = "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.fail("the dispatch-page test needs Debian's chromium and chromium-driver: run scripts/setup.sh "
                    "(or apt-get install -y chromium chromium-driver)")
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def fleet_state(driver: webdriver.Chrome) -> dict[str, Any] | None:
    """What the page shows of the test fleet: plan id, route lines, stops and unassigned markers drawn."""
    state: dict[str, Any] | None = driver.execute_script("""
        const fleet = document.querySelector('article.fleet[data-fleet="' + arguments[0] + '"]');
        if (!fleet) return null;
        return {plan_id: fleet.dataset.planId, lines: fleet.querySelectorAll('svg path.route-line').length,
                drawn: fleet.querySelectorAll('svg g.stop, svg g.unassigned').length,
                decisions: fleet.querySelectorAll('table.decisions tbody tr').length,
                age: (fleet.querySelector('.age') || {}).textContent,
                updates: Number(document.body.dataset.updates), marker: window.__sameDocument || null};
    """, FLEET)
    return state


def more_orders(count: int) -> list[OrderEvent]:
    """`count` orders south-west of the first ones, and one too big for any vehicle (capacity 10)."""
    now = datetime.now(UTC)
    window = TimeWindow(start=now, end=now + timedelta(hours=4))
    late = [OrderEvent(event_id=f"{FLEET}-late-{i}", action="create", fleet_id=FLEET, order_id=f"late{i}",
                       occurred_at=now, location=GeoPoint(lat=CENTRE[0] - 0.003 * (i + 1),
                                                          lon=CENTRE[1] - 0.005 * (i + 1)),
                       demand=2, time_window=window, service_time_s=120)
            for i in range(count)]
    bulky = OrderEvent(event_id=f"{FLEET}-bulky", action="create", fleet_id=FLEET, order_id="bulky", occurred_at=now,
                       location=GeoPoint(lat=CENTRE[0] + 0.006, lon=CENTRE[1] + 0.012), demand=12,
                       time_window=window, service_time_s=120)
    return [*late, bulky]


def fraud_records(topics: Any) -> None:
    """An alert and a Granite review on their topics, as the fraud agents publish them."""
    now = datetime.now(UTC)
    alert = FraudScore(transaction_id="tx-web-1", customer_id="cust-7", terminal_id="term-3", occurred_at=now,
                       score=0.93, alert=True, model_version="test",
                       reasons=[ScoreReason(code="amount", text="amount 9x the customer's 30-day mean", weight=0.5)],
                       scored_at=now)
    review = FraudReview(transaction_id="tx-web-1", customer_id="cust-7", decision="fraud",
                         rationale="first payment at this terminal and far above usual", score=0.93,
                         model="tiny-granite", prompt_hash="ab12", reviewed_at=now, cycle_at=now, latency_ms=41.0)
    produce(topics.fraud_alerts, [(b"cust-7", alert.to_bytes())])
    produce(topics.fraud_reviews, [(b"cust-7", review.to_bytes())])


def test_page_shows_routes_and_follows_the_next_plan_without_reload(
    services: None, tmp_path: Path, tiny_granite: tuple[Path, Path], browser: webdriver.Chrome
) -> None:
    """After a cycle the fleet's map has a route line per busy vehicle; new orders reach the map on a later plan
    through server-sent events in the same document; the Fraud tab lists an alert and a Granite review."""
    engine = route_engine(tmp_path)
    worker = start_worker(engine, tmp_path, tiny_granite[1])
    try:
        url = f"http://127.0.0.1:{engine.settings.worker_web_port}/dispatch"
        html = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "<script>" in html and "http" not in html.replace("http://www.w3.org", ""), "no external asset"
        browser.get(url)
        browser.execute_script("window.__sameDocument = 'yes';")
        feed(engine, FLEET, orders=6)
        wait = WebDriverWait(browser, 90, poll_frequency=0.5)
        first = wait.until(lambda d: (s := fleet_state(d)) and s["lines"] >= 1 and s["drawn"] == 6 and s,
                           "a route line and six orders on the map")
        assert first["age"] and first["age"].endswith("s"), "the plan's age is shown"
        assert first["decisions"] >= 1 and first["marker"] == "yes"

        produce(engine.settings.topics.orders, [(FLEET.encode(), o.to_bytes()) for o in more_orders(3)])
        later = wait.until(lambda d: (s := fleet_state(d)) and s["plan_id"] != first["plan_id"]
                           and s["drawn"] == 10 and s, "a later plan with the four new orders on the map")
        assert later["marker"] == "yes", "the page changed by events, not by a reload"
        assert later["updates"] > first["updates"]
        unassigned = browser.find_element(By.CSS_SELECTOR, f'article[data-fleet="{FLEET}"] li[data-order="bulky"]')
        assert "exceeds the free capacity" in unassigned.text
        board = json.loads(urllib.request.urlopen(f"{url}/board.json", timeout=10).read())
        assert FLEET in board["shown"] and board["fleets"][FLEET]["plan"]["routes"]

        fraud_records(engine.settings.topics)
        browser.find_element(By.ID, "tab-fraud").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#alerts tr[data-transaction="tx-web-1"]')
                   and d.find_elements(By.CSS_SELECTOR, '#reviews tr[data-transaction="tx-web-1"]'),
                   "the alert and its review on the Fraud tab")
        assert not browser.find_element(By.ID, "fraud").get_attribute("hidden")
        assert browser.find_element(By.ID, "routes").get_attribute("hidden")
        assert "far above usual" in browser.find_element(By.ID, "reviews").text
        browser.save_screenshot(str(tmp_path / "dispatch-fraud.png"))

        browser.find_element(By.ID, "tab-routes").click()
        wait_for(lambda: (s := fleet_state(browser)) and s["decisions"] >= 2, 30, "two decisions in the table")
        shot = tmp_path / "dispatch-page.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)
    finally:
        worker.stop()
