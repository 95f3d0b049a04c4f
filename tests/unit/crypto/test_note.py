from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import (
    Checkpoint,
    FormatError,
    NoteVerifier,
    ServiceSigner,
    SignatureError,
    load_public_key,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key_string,
)

# golang.org/x/mod/sumdb/note note_test.go: keys, text and signatures of the reference code.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"  # noqa: E501 - one published line
PETER_SIG = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"  # noqa: E501 - one published line
ENOCH_SIG = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"  # noqa: E501 - one published line


def _peter_signer() -> ServiceSigner:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # the key itself may contain "+"
    assert raw[0] == 0x01
    return ServiceSigner(Ed25519PrivateKey.from_private_bytes(raw[1:]))


def test_reference_verifier_key_parses_and_re_encodes() -> None:
    verifier = parse_verifier_key(PETER_VKEY)
    assert (verifier.name, verifier.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert verifier.key_string() == PETER_VKEY
    assert verifier_key_string("PeterNeumann", _peter_signer().public_key) == PETER_VKEY


def test_mangled_verifier_keys_are_rejected() -> None:
    # As note_test.go: every proper substring and every single-character change must fail.
    for start in range(len(PETER_VKEY) + 1):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(FormatError):
                    parse_verifier_key(PETER_VKEY[start:end])
    for position in range(len(PETER_VKEY)):
        mangled = (
            PETER_VKEY[:position] + chr(ord(PETER_VKEY[position]) + 1) + PETER_VKEY[position + 1 :]
        )
        with pytest.raises(FormatError):
            parse_verifier_key(mangled)
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(FormatError):
            parse_verifier_key(bad)


def test_signing_reproduces_the_reference_note_byte_for_byte() -> None:
    assert sign_note(TEXT, "PeterNeumann", _peter_signer()) == TEXT + "\n" + PETER_SIG


def test_open_verifies_the_named_key_and_ignores_unknown_signers() -> None:
    peter, enoch = parse_verifier_key(PETER_VKEY), parse_verifier_key(ENOCH_VKEY)
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, peter) == TEXT
    assert open_note(note, enoch) == TEXT
    assert open_note(note.encode("utf-8"), peter) == TEXT
    assert open_note(TEXT + "\n" + PETER_SIG + PETER_SIG, peter) == TEXT


def test_open_fails_closed() -> None:
    peter = parse_verifier_key(PETER_VKEY)
    stranger = ServiceSigner.generate().verifier("PeterNeumann")  # same name, other key id
    cases = [
        (TEXT + "\n" + ENOCH_SIG, peter),  # only unknown signers
        (TEXT + "\n" + PETER_SIG, stranger),
        (TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], peter),  # invalid signature
        (TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG, peter),
    ]
    for note, verifier in cases:
        with pytest.raises(SignatureError):
            open_note(note, verifier)


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",  # noqa: E501 - one published line
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
        TEXT
        + "\n"
        + "- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",  # noqa: E501 - ASCII hyphen, not an em dash
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(FormatError):
        open_note(note, parse_verifier_key(PETER_VKEY))


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(FormatError):
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), parse_verifier_key(PETER_VKEY))


def test_sign_note_rejects_bad_text_and_names() -> None:
    signer = ServiceSigner.generate()
    for text, name in [("no newline", "a"), ("ok\n", "a+b"), ("ok\n", "a b"), ("ok\n", ""),
                       ("tab\there\n", "a"), ("\ud800\n", "a")]:  # fmt: skip
        with pytest.raises(FormatError):
            sign_note(text, name, signer)


# -- checkpoints ------------------------------------------------------------------------------

SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_checkpoint_parses_the_spec_example() -> None:
    checkpoint = Checkpoint.parse(SPEC_CHECKPOINT)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert len(checkpoint.root_hash) == 32
    assert checkpoint.to_text() == SPEC_CHECKPOINT


def test_checkpoint_keeps_extension_lines() -> None:
    checkpoint = Checkpoint("log.example/a", 0, bytes(32), ("ext one", "ext two"))
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


@pytest.mark.parametrize(
    "text",
    [
        "example.com/log\n7\n" + base64.b64encode(bytes(32)).decode(),  # no final newline
        "example.com/log\n7\n",
        "example.com/log\n007\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "example.com/log\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "example.com/log\n7\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "example.com/log\n7\nnot base64\n",
        "\n7\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "example.com/log\n7\n" + base64.b64encode(bytes(32)).decode() + "\n\n",
    ],
)
def test_malformed_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(FormatError):
        Checkpoint.parse(text)


def test_signed_checkpoint_verifies_offline_from_published_keys() -> None:
    signer, origin = ServiceSigner.generate(), "escrow.example/audit"
    checkpoint = Checkpoint(origin, 42, bytes(range(32)))
    note = sign_note(checkpoint.to_text(), origin, signer)
    assert note.startswith(checkpoint.to_text() + "\n\u2014 " + origin + " ")
    published = [signer.verifier(origin).key_string(), signer.public_key_pem()]
    for text in published:
        verifier = NoteVerifier(origin, load_public_key(text))
        assert Checkpoint.parse(open_note(note, verifier)) == checkpoint
    with pytest.raises(SignatureError):
        open_note(note.replace("\n42\n", "\n43\n"), signer.verifier(origin))
