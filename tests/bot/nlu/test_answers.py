"""Reading short answers: attempts at a slot, card operations, options, FX questions."""

from __future__ import annotations

import pytest

from bot.nlu.answers import (
    BUY_FOREIGN,
    FREEZE,
    LOST,
    SELL_FOREIGN,
    UNFREEZE,
    account_digits,
    after_correction,
    card_effect_question,
    card_request,
    card_type_named,
    fx_request,
    is_follow_up,
    longest_digit_run,
    looks_like_amount,
    looks_like_card,
    looks_like_code,
    looks_like_phone,
    match_option,
    person_name,
    statement_kind,
    statement_refinement,
)


@pytest.mark.parametrize(
    "text, attempt",
    [
        ("13800138000", True),
        ("138 0013 8000", True),
        ("1380013800", True),  # a typo is still an attempt (and gets a format error)
        ("一三八零零一三八零零零", True),
        ("我那个卡的密码忘记了 咋整", False),
        ("我不会打字 能不能让人给我打电话", False),
        ("附近有没有网店", False),
        ("手机号忘了", False),
    ],
)
def test_only_digits_are_an_attempt_at_a_phone_number(text: str, attempt: bool) -> None:
    assert looks_like_phone(text) is attempt


def test_a_code_attempt_or_a_resend_request() -> None:
    assert looks_like_code("246 810")
    assert looks_like_code("没收到 再发一次")
    assert not looks_like_code("验证码在哪里看")


def test_account_numbers_with_spaces_anywhere() -> None:
    assert account_digits("6222 0212 3456 7890 123") == "6222021234567890123"
    assert account_digits("转2万到6222-0212-3456-7890 收款人陈明") == "6222021234567890"
    assert account_digits("6222 0212 3456") is None  # 12 digits: not a whole number
    assert longest_digit_run("6222 0212 3456") == 12


@pytest.mark.parametrize(
    "text, operation, last, stolen",
    [
        ("我要挂失", LOST, LOST, False),
        ("卡丢了 帮我挂失", LOST, LOST, False),
        ("先冻结一下", FREEZE, FREEZE, False),
        ("卡找到了，帮我解冻吧", UNFREEZE, UNFREEZE, False),
        ("不用挂失了 冻结就行", FREEZE, FREEZE, False),
        # a loss or theft with a freeze word: ambiguous, the bot asks
        ("钱包被偷了 卡都在里面 先把卡冻上 快点", None, FREEZE, True),
        ("我的卡丢了", None, None, False),
        ("lost my card", None, None, False),
        # a change of mind: the operation named last
        ("等一下 挂失是不是就不能用了 那算了 还是先冻结吧", None, FREEZE, False),
        ("卡被抢了", None, None, True),
        ("我信用卡刷不了了是不是被冻了 帮我解开 尾号5678", UNFREEZE, UNFREEZE, False),
    ],
)
def test_card_requests(text: str, operation: str | None, last: str | None, stolen: bool) -> None:
    request = card_request(text)
    assert (request.operation, request.last, request.stolen) == (operation, last, stolen)


def test_card_answers() -> None:
    assert looks_like_card("尾号1234的")
    assert looks_like_card("1234")
    assert looks_like_card("信用卡")
    assert card_type_named("借记卡") == "储蓄卡"
    assert card_type_named("信用卡那张") == "信用卡"
    assert not looks_like_card("等一下 挂失是不是就不能用了 那算了 还是先冻结吧")
    assert not looks_like_card("卡里还有1000块")  # an amount, not a card's last digits


def test_amount_answers() -> None:
    assert looks_like_amount("两万")
    assert looks_like_amount("5000")
    assert looks_like_amount("¥3,500.50")
    assert not looks_like_amount("确认")


AGES = [("A", "30岁以下"), ("B", "31-50岁"), ("C", "51-65岁"), ("D", "65岁以上")]


@pytest.mark.parametrize(
    "text, picked",
    [
        ("b", "B"),
        ("选C", "C"),
        ("1", "A"),
        ("3", "C"),
        ("第二个", "B"),
        ("30岁到50岁", "B"),
        ("我今年70了", "D"),
        ("B. 31-50岁", "B"),
        ("不知道", None),
        ("9", None),
    ],
)
def test_options_by_letter_number_or_words(text: str, picked: str | None) -> None:
    assert match_option(text, AGES) == picked


def test_never_picks_the_option_that_says_none() -> None:
    experience = [("A", "没有经验"), ("B", "1年以内"), ("C", "1-3年"), ("D", "3-5年"), ("E", "5年以上")]
    assert match_option("从来没买过这些", experience) == "A"
    assert match_option("两年左右", experience) == "C"


@pytest.mark.parametrize(
    "text, options, picked",
    [
        ("二十多万吧", [("A", "10万元以下"), ("B", "10万-30万元"), ("C", "30万-50万元")], "B"),
        ("退休金一个月五千多 一年就六万多吧", [("A", "10万元以下"), ("B", "10万-30万元")], "A"),
        ("我六十八了", [("A", "18-30岁"), ("B", "31-50岁"), ("C", "51-65岁"), ("D", "65岁以上")], "D"),
        ("保本 钱不能少", [("A", "资金安全，保本为主"), ("B", "稳健增值，可接受小幅波动")], "A"),
        ("一分都不能亏", [("A", "不能承受任何亏损"), ("B", "5%以内"), ("C", "5%-15%")], "A"),
        ("最多亏个百分之十吧", [("A", "不能承受任何亏损"), ("B", "5%以内"), ("C", "5%-15%")], "C"),
    ],
)
def test_free_answers_to_the_questionnaire(text, options, picked) -> None:
    assert match_option(text, options) == picked


@pytest.mark.parametrize(
    "text, name",
    [
        ("收款人叫陈明", "陈明"),
        ("转2万到6222021234567890123 收款人叫陈明", "陈明"),
        ("户名是张三丰", "张三丰"),
        ("转两万给李四", "李四"),
        ("好的", None),
        ("确认", None),
        ("给我老婆", None),
        ("她叫什么来着", None),
        ("转给钱芳", "钱芳"),  # 钱 the surname, not the money
        ("钱转给张三吧", "张三"),
        ("我表弟王强", "王强"),
        ("给我同事李娜转", "李娜"),
        ("不对 收款人是王五", "王五"),
        ("李娜那1000呢", "李娜"),
        ("那改成九千 免得审核", None),  # no name in it at all
        ("名字我得问问 是我房东 好像姓陈", None),  # not known yet
    ],
)
def test_person_names(text: str, name: str | None) -> None:
    assert person_name(text) == name


@pytest.mark.parametrize(
    "text, amount_end, direction, cash, in_cny",
    [
        ("换5000欧元要多少钱", 5, BUY_FOREIGN, None, False),
        ("我要买1000美元现钞", 7, BUY_FOREIGN, True, False),
        ("500美元现钞能换多少人民币", 3, SELL_FOREIGN, True, False),
        ("1000美元是多少人民币", 4, SELL_FOREIGN, None, False),
        ("1万块能换多少美元", 2, BUY_FOREIGN, None, True),
        ("美元现汇价多少", None, None, False, False),
    ],
)
def test_fx_questions(
    text: str, amount_end: int | None, direction: str | None, cash: bool | None, in_cny: bool
) -> None:
    request = fx_request(text, amount_end)
    assert (request.direction, request.cash, request.amount_in_cny) == (direction, cash, in_cny)


def test_follow_ups_and_statement_kinds() -> None:
    assert is_follow_up("港币呢")
    assert is_follow_up("那饿了么呢")
    assert not is_follow_up("我想查一下上个月在美团一共花了多少钱呢")
    assert statement_kind("进账") == "收入"
    assert statement_kind("花") == "支出"
    assert statement_kind("消费") == "消费"
    assert statement_kind(None) is None


@pytest.mark.parametrize(
    "text, direction",
    [
        ("不是卖 是买欧元", "buy"),
        ("要是换成欧元的话呢 买2000欧", "buy"),
        ("不买了 我要卖美元", "sell"),
    ],
)
def test_a_way_ruled_out_is_not_the_way_asked(text: str, direction: str) -> None:
    assert fx_request(text).direction == direction


@pytest.mark.parametrize(
    "text, operation",
    [
        ("我卡好像不见了 是不是要挂失啊", None),  # asked, not taken at its word
        ("卡丢了 要不要挂失", None),
        ("我的卡丢了 帮我挂失", "report_card_lost"),
        ("卡在我手上 不用冻 我要对这笔扣款提出异议", None),
        ("不挂失了 先冻结", "freeze_card"),
    ],
)
def test_a_loss_report_is_never_read_from_a_question_or_a_no(text: str, operation: str | None) -> None:
    assert card_request(text).operation == operation


def test_no_name_in_a_pointing_word() -> None:
    assert person_name("转三千到这个卡") is None
    assert person_name("那张卡") is None


def test_card_digits_said_in_words() -> None:
    from bot.nlu.answers import looks_like_card, spelled_digits

    assert looks_like_card("幺二三四")
    assert looks_like_card("是伍陆柒捌那张")
    assert not looks_like_card("一千二百三十四")
    assert spelled_digits("尾号伍陆柒捌").endswith("5678")


@pytest.mark.parametrize(
    "text, kind, narrows",
    [
        ("就消费呢 不算转账还款那些", "消费", True),
        ("只看收入", "收入", True),
        ("那转账呢", "转账", True),
        ("除了转账 消费多少", "消费", False),
        ("开户要带什么", None, False),
    ],
)
def test_a_statement_narrowed_to_one_kind(text: str, kind: str | None, narrows: bool) -> None:
    assert statement_kind(text) == kind
    assert statement_refinement(text) is narrows


@pytest.mark.parametrize(
    "text, asks",
    [
        ("锁了以后工资还能打进来吗", True),
        ("挂失了钱会不会没了", True),
        ("冻结了还能收款吗", True),
        ("帮我冻结", False),
        ("挂失后怎么补卡", False),
    ],
)
def test_what_a_stopped_card_still_does(text: str, asks: bool) -> None:
    assert card_effect_question(text) is asks


def test_yuan_named_in_slang_or_english_decides_the_way() -> None:
    assert fx_request("1000 GBP想换成RMB", 4).direction == SELL_FOREIGN
    assert fx_request("500软妹币能换多少刀", 3).amount_in_cny


def test_the_customers_own_correction_overrides_what_came_before() -> None:
    assert after_correction("转五百给王芳 哦不对 是给李娜 王芳的上周给过了").startswith("是给李娜")
    assert after_correction("给李娜转500") is None


@pytest.mark.parametrize(
    "text, name",
    [
        ("她不在里面 卡号62284 80012 3456 7890", None),
        ("只看转出去的", None),
        ("转2万到6217000011112222 户名赵敏 装修尾款", "赵敏"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("小李", "小李"),
    ],
)
def test_a_name_starts_with_a_surname(text: str, name: str | None) -> None:
    assert person_name(text) == name
