from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import (
    FormatError,
    ServiceSigner,
    SignatureError,
    canonical_json,
    jwk_thumbprint,
    load_public_key,
    sign_document,
    verifier_key_string,
    verify_document,
)

# RFC 8032 section 7.1, TEST 1 (also the key of RFC 8037 appendix A).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _rfc_signer() -> ServiceSigner:
    return ServiceSigner(Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET))


# -- canonical JSON (RFC 8785) ----------------------------------------------------------------


def test_jcs_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == expected.encode("utf-8")


def test_jcs_escapes_strings_like_ecmascript() -> None:
    # RFC 8785 section 3.2.2.2 example, without its numbers (floats are outside our subset).
    value = {"string": '\u20ac$\u000f\nA\'B"\\\\"/', "literals": [None, True, False]}
    expected = '{"literals":[null,true,false],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert canonical_json(value) == expected.encode("utf-8")


def test_jcs_keeps_non_ascii_literal_and_nests_without_whitespace() -> None:
    value = {"b": [1, -2, {"z": None, "a": "\u2028\x7f\u00e9"}], "a": {}, "c": []}
    assert (
        canonical_json(value)
        == '{"a":{},"b":[1,-2,{"a":"\u2028\x7f\u00e9","z":null}],"c":[]}'.encode()
    )


@pytest.mark.parametrize(
    "value",
    [1.5, 0.0, {"a": 1.0}, {1: "x"}, {("a",): 1}, (1, 2), {1, 2}, b"bytes", 2**53, -(2**53),
     "\ud800", {"\udfff": 1}, object()],
    ids=lambda value: "object()" if type(value) is object else repr(value),  # stable ids
)  # fmt: skip
def test_jcs_rejects_values_outside_the_subset(value: Any) -> None:
    with pytest.raises(FormatError):
        canonical_json(value)


def test_jcs_rejects_absurd_nesting_as_a_format_error() -> None:
    value: list[Any] = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(FormatError):
        canonical_json(value)


def test_jcs_accepts_the_largest_safe_integers() -> None:
    assert canonical_json([2**53 - 1, -(2**53 - 1), 0]) == b"[9007199254740991,-9007199254740991,0]"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, database=None)
@given(_json_values)
def test_jcs_is_valid_json_for_the_same_value(value: Any) -> None:
    try:
        encoded = canonical_json(value)
    except FormatError:  # lone surrogates from st.text()
        return
    assert json.loads(encoded) == value
    assert canonical_json(json.loads(encoded)) == encoded


# -- keys and signed documents ----------------------------------------------------------------


def test_signer_matches_rfc8032_and_rfc8037_vectors() -> None:
    signer = _rfc_signer()
    assert signer.public_key_bytes == RFC8032_PUBLIC
    assert signer.sign(b"") == RFC8032_SIGNATURE
    # RFC 8037 appendix A.3: the JWK thumbprint of this key.
    assert jwk_thumbprint(signer.public_key) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert signer.key_id == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_signed_document_round_trips_through_json() -> None:
    signer = ServiceSigner.generate()
    receipt = sign_document({"dataset": "q3-sales", "version": 3, "sha256": "ab" * 32}, signer)
    assert receipt["key_id"] == signer.key_id
    assert base64.b64decode(receipt["signature"], validate=True)
    transported = json.loads(json.dumps(dict(reversed(list(receipt.items())))))
    fields = verify_document(transported, signer.public_key)
    assert fields == {k: v for k, v in receipt.items() if k != "signature"}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(version=4),
        lambda d: d.update(extra="field"),
        lambda d: d.pop("dataset"),
        lambda d: d.pop("signature"),
        lambda d: d.update(signature="not base64!"),
        lambda d: d.update(signature=base64.b64encode(bytes(64)).decode()),
        lambda d: d.update(key_id="someone-else"),
        lambda d: d.update(version=3.0),
        lambda d: d.update(signature=None),
    ],
)
def test_tampered_documents_fail_closed(tamper: Any) -> None:
    signer = ServiceSigner.generate()
    receipt = sign_document({"dataset": "q3-sales", "version": 3}, signer)
    tamper(receipt)
    with pytest.raises(SignatureError):
        verify_document(receipt, signer.public_key)


def test_document_signed_by_another_key_is_rejected() -> None:
    receipt = sign_document({"version": 1}, ServiceSigner.generate())
    with pytest.raises(SignatureError):
        verify_document(receipt, ServiceSigner.generate().public_key)
    with pytest.raises(SignatureError):
        verify_document(["not", "an", "object"], ServiceSigner.generate().public_key)


def test_sign_document_refuses_reserved_fields() -> None:
    for reserved in ({"signature": "x"}, {"key_id": "x"}):
        with pytest.raises(FormatError):
            sign_document(reserved, ServiceSigner.generate())


def test_load_public_key_accepts_pem_and_verifier_strings() -> None:
    signer = _rfc_signer()
    from_pem = load_public_key(signer.public_key_pem())
    from_note_key = load_public_key(verifier_key_string("escrow.example/audit", signer.public_key))
    for key in (from_pem, from_note_key):
        assert key.public_bytes(Encoding.Raw, PublicFormat.Raw) == RFC8032_PUBLIC


def test_load_public_key_rejects_other_keys_and_garbage() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for text in (ec_pem, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "x", ""):
        with pytest.raises(FormatError):
            load_public_key(text)
