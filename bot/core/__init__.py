"""The platform-neutral domain.

Nothing in this package may import a platform SDK, a web framework or an ORM:
tests/test_architecture.py checks it. Edges translate payloads into these types and back.
"""
