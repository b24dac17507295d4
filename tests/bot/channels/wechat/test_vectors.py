"""The official test vectors (protocol notes A-D), through wechatpy and through the channel."""

from __future__ import annotations

import pytest
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise import parse_message as parse_enterprise_message
from wechatpy.enterprise.crypto import PrpCrypto as EnterprisePrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as EnterpriseCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from bot.channels.wechat import WeChatConfig, WeChatInput
from bot.channels.wechat.channel import CallbackRequest
from bot.channels.wechat.dedupe import MemoryStore
from bot.channels.wechat.security import (
    BadSignature,
    Forbidden,
    check_msg_signature,
    check_url_signature,
    sign,
)
from bot.channels.wechat.wecom import WeComConfig, WeComInput

# -- A. Tencent's official OA WXBizMsgCrypt demo ------------------------------

A_TOKEN = "spamtest"
A_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
A_APPID = "wx2c2769f8efd9abc2"
A_TIMESTAMP = "1409735669"
A_NONCE = "1320562132"
A_MSG_SIGN = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
A_URL_SIGNATURE = "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
A_XML = """<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>"""


def a_channel(appid: str = A_APPID) -> WeChatInput:
    config = WeChatConfig(token=A_TOKEN, aes_key=A_AES_KEY, appid=appid)
    return WeChatInput(config, store=MemoryStore(), clock=lambda: float(A_TIMESTAMP))


def a_request(nonce: str = A_NONCE) -> CallbackRequest:
    return CallbackRequest(
        args={
            "signature": A_URL_SIGNATURE,
            "timestamp": A_TIMESTAMP,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": A_MSG_SIGN,
        },
        body=A_XML.encode(),
    )


def test_a_wechatpy_decrypts_the_tencent_sample() -> None:
    crypto = WeChatCrypto(A_TOKEN, A_AES_KEY, A_APPID)
    msg = parse_message(crypto.decrypt_message(A_XML, A_MSG_SIGN, A_TIMESTAMP, A_NONCE))
    assert (msg.id, msg.source, msg.content) == (
        6054768590064713728,
        "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "abcdteT",
    )
    with pytest.raises(InvalidAppIdException):
        WeChatCrypto(A_TOKEN, A_AES_KEY, "wx0000000000000000").decrypt_message(
            A_XML, A_MSG_SIGN, A_TIMESTAMP, A_NONCE
        )
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(A_XML, A_MSG_SIGN, A_TIMESTAMP, "1320562133")


def test_a_url_signature() -> None:
    assert sign(A_TOKEN, A_TIMESTAMP, A_NONCE) == A_URL_SIGNATURE
    check_url_signature(A_TOKEN, A_URL_SIGNATURE, A_TIMESTAMP, A_NONCE)


def test_a_through_the_channel_compatible_mode() -> None:
    msg, encrypted = a_channel().open_request(a_request())
    assert encrypted
    assert msg.type == "text" and msg.content == "abcdteT"
    assert msg.source == "oyORnuP8q7ou2gfYjqLzSIWZf0rs" and msg.id == 6054768590064713728


def test_a_wrong_appid_is_forbidden() -> None:
    with pytest.raises(Forbidden, match="AppID"):
        a_channel("wx0000000000000000").open_request(a_request())


def test_a_changed_nonce_breaks_the_signatures() -> None:
    with pytest.raises(BadSignature):
        a_channel().open_request(a_request(nonce="1320562133"))


def test_a_stale_timestamp_is_forbidden_with_the_real_clock() -> None:
    config = WeChatConfig(token=A_TOKEN, aes_key=A_AES_KEY, appid=A_APPID)
    channel = WeChatInput(config, store=MemoryStore())  # time.time(): 2014 is stale
    with pytest.raises(Forbidden, match="stale"):
        channel.open_request(a_request())


# -- B. wechatpy tests/test_utils.py -------------------------------------------


async def test_b_check_signature_and_url_verification() -> None:
    check_url_signature("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "1410685589", "test")
    with pytest.raises(BadSignature):
        check_url_signature(
            "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", "1410685589", "test"
        )
    channel = WeChatInput(
        WeChatConfig(token="test"), store=MemoryStore(), clock=lambda: 1410685589.0
    )
    ok = await channel.handle_get(
        CallbackRequest(
            args={
                "signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff",
                "timestamp": "1410685589",
                "nonce": "test",
                "echostr": "echo-2014",
            }
        )
    )
    assert (ok.status, ok.body) == (200, "echo-2014")
    bad = await channel.handle_get(
        CallbackRequest(
            args={
                "signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe",
                "timestamp": "1410685589",
                "nonce": "test",
                "echostr": "echo-2014",
            }
        )
    )
    assert bad.status == 403 and "echo" not in bad.body


# -- C. wechatpy tests/test_crypto.py -------------------------------------------

C_TOKEN = "123456"
C_AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
C_ID = "wx49f0ab532d5d035a"
C_XML = """<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>
<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>
<AgentID><![CDATA[1]]></AgentID>
</xml>"""
C_REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
C_EXPECTED = """<xml>
<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>
<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>
<TimeStamp>1411525903</TimeStamp>
<Nonce><![CDATA[461056294]]></Nonce>
</xml>"""


def test_c_enterprise_check_signature_returns_the_echo() -> None:
    crypto = EnterpriseCrypto(C_TOKEN, C_AES_KEY, C_ID)
    echo = crypto.check_signature(
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
        "1411443780",
        "437374425",
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
    )
    assert echo == "5927782489442352469"
    with pytest.raises(InvalidSignatureException):
        crypto.check_signature(
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            "1411443780",
            "437374424",
            "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
        )


def test_c_decrypt_with_both_crypto_classes_and_our_signature_check() -> None:
    signature, timestamp, nonce = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294"
    for crypto_class in (EnterpriseCrypto, WeChatCrypto):
        xml = crypto_class(C_TOKEN, C_AES_KEY, C_ID).decrypt_message(
            C_XML, signature, timestamp, nonce
        )
        msg = parse_enterprise_message(xml)
        assert (msg.content, msg.source) == ("test", "messense")
    encrypt = C_XML.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    check_msg_signature(C_TOKEN, signature, timestamp, nonce, encrypt)
    with pytest.raises(BadSignature):
        check_msg_signature(C_TOKEN, signature, timestamp, "461056295", encrypt)


def test_c_encrypt_with_a_pinned_random_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EnterprisePrpCrypto, "get_random_string", lambda self: "1234567890123456")
    crypto = EnterpriseCrypto(C_TOKEN, C_AES_KEY, C_ID)
    assert crypto.encrypt_message(C_REPLY, "461056294", "1411525903") == C_EXPECTED


# -- D. Tencent's official WeCom demo --------------------------------------------

D_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
D_AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
D_CORP_ID = "ww1436e0e65a779aee"
D_VERIFY = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
}
D_REQ = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
}
D_XML = "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA[Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"


def test_d_wechatpy_verifies_and_decrypts_the_wecom_sample() -> None:
    crypto = EnterpriseCrypto(D_TOKEN, D_AES_KEY, D_CORP_ID)
    echo = crypto.check_signature(
        D_VERIFY["msg_signature"], D_VERIFY["timestamp"], D_VERIFY["nonce"], D_VERIFY["echostr"]
    )
    assert echo == "1288432023552776189"
    xml = crypto.decrypt_message(D_XML, D_REQ["msg_signature"], D_REQ["timestamp"], D_REQ["nonce"])
    msg = parse_enterprise_message(xml)
    assert (msg.content, msg.source, msg.agent) == ("你好", "ChenJiaShun", 1000002)


def d_channel(corp_id: str = D_CORP_ID, now: str = D_REQ["timestamp"]) -> WeComInput:
    config = WeComConfig(token=D_TOKEN, aes_key=D_AES_KEY, corp_id=corp_id)
    return WeComInput(config, store=MemoryStore(), clock=lambda: float(now))


async def test_d_wecom_channel_url_verification() -> None:
    channel = d_channel(now=D_VERIFY["timestamp"])
    reply = await channel.handle_get(CallbackRequest(args=dict(D_VERIFY)))
    assert (reply.status, reply.body) == (200, "1288432023552776189")
    tampered = await channel.handle_get(
        CallbackRequest(args={**D_VERIFY, "nonce": "47744684"})
    )
    assert tampered.status == 403


def test_d_wecom_channel_decrypts_the_sample() -> None:
    msg, encrypted = d_channel().open_request(
        CallbackRequest(args=dict(D_REQ), body=D_XML.encode())
    )
    assert encrypted and (msg.content, msg.source, msg.agent) == ("你好", "ChenJiaShun", 1000002)
    with pytest.raises(Forbidden, match="CorpID"):
        d_channel("ww0000000000000000").open_request(
            CallbackRequest(args=dict(D_REQ), body=D_XML.encode())
        )
    with pytest.raises(BadSignature):
        d_channel().open_request(
            CallbackRequest(args={**D_REQ, "nonce": "1597212915"}, body=D_XML.encode())
        )
