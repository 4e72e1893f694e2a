"""The command line (`engine ...`, or `python -m agents ...`): one module per command group.

It sits on top of everything: it may import agents/, engine/, schemas/ and devstack/, and nothing imports
it. Each module adds its parser (`add_to`) and runs its command; a user error raises `UsageError`, which
`main` prints as one line (`error: ...`) with exit 2.
"""
