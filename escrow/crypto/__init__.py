"""The escrow's cryptography: plain Python over bytes, no Django, no settings, no I/O.

Everything here composes vetted primitives (the `cryptography` package and libsodium
through PyNaCl); no primitive is implemented by hand. See docs/crypto.md.
"""
