"""Identity signals: aliases of one mailbox, phone, address or name compare equal."""

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sarafan.core.hashing import keyed_hash
from sarafan.core.identity import (
    Identity,
    email_domain,
    email_matches,
    ip_in_range,
    ip_network,
    is_disposable_email,
    normalize_email,
    normalize_ip,
    normalize_phone,
    normalize_user_agent,
    similar_names,
)
from sarafan.fraud.signals import hashed_signals, signal_values


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("  Anna.Petrova@Gmail.COM ", "annapetrova@gmail.com"),
        ("a.n.n.a+shop@gmail.com", "anna@gmail.com"),
        ("anna+a+b@gmail.com", "anna@gmail.com"),
        ("Anna.Petrova+x@googlemail.com", "annapetrova@gmail.com"),
    ],
)
def test_gmail_ignores_dots_and_tags_and_googlemail_is_gmail(email, canonical):
    assert normalize_email(email) == canonical


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("anna.p+shop@outlook.com", "anna.p@outlook.com"),
        ("anna+1@hotmail.com", "anna@hotmail.com"),
        ("anna+1@live.com", "anna@live.com"),
        ("anna+1@msn.com", "anna@msn.com"),
        ("anna+1@icloud.com", "anna@icloud.com"),
        ("anna+1@me.com", "anna@me.com"),
        ("anna+1@mac.com", "anna@mac.com"),
        ("anna+1@fastmail.com", "anna@fastmail.com"),
        ("anna+1@fastmail.fm", "anna@fastmail.fm"),
        ("anna+1@zoho.com", "anna@zoho.com"),
        ("anna+1@gmx.de", "anna@gmx.de"),
        ("anna+1@gmx.net", "anna@gmx.net"),
        ("anna.p+1@mail.ru", "anna.p@mail.ru"),
        ("anna+1@bk.ru", "anna@bk.ru"),
        ("anna+1@inbox.ru", "anna@inbox.ru"),
        ("anna+1@list.ru", "anna@list.ru"),
        ("anna+1@rambler.ru", "anna@rambler.ru"),
    ],
)
def test_plus_tag_providers_drop_the_tag_but_keep_dots(email, canonical):
    assert normalize_email(email) == canonical


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("anna.p+1@protonmail.com", "annap@protonmail.com"),
        ("anna_p@proton.me", "annap@proton.me"),
        ("anna-p+x@pm.me", "annap@pm.me"),
    ],
)
def test_proton_drops_tags_and_separators(email, canonical):
    assert normalize_email(email) == canonical


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("anna-shop@yahoo.com", "anna@yahoo.com"),
        ("anna-a-b@yahoo.co.uk", "anna@yahoo.co.uk"),
        ("anna.p@yahoo.com", "anna.p@yahoo.com"),
    ],
)
def test_yahoo_disposable_suffix_is_an_alias(email, canonical):
    assert normalize_email(email) == canonical


@pytest.mark.parametrize(
    "email",
    [
        "anna-petrova@yandex.ru",
        "Anna.Petrova@yandex.ru",
        "anna.petrova+shop@yandex.com",
        "anna-petrova@yandex.by",
        "anna-petrova@yandex.kz",
        "anna-petrova@yandex.ua",
        "anna-petrova@yandex.com.tr",
        "anna.petrova@ya.ru",
        "anna.petrova@narod.ru",
    ],
)
def test_yandex_domains_and_dot_or_hyphen_are_one_mailbox(email):
    assert normalize_email(email) == "anna-petrova@yandex.ru"


@pytest.mark.parametrize(
    ("email", "canonical"),
    [
        ("Anna.P+shop@Example.RU", "anna.p+shop@example.ru"),
        ("anna-p@company.com", "anna-p@company.com"),
        ("anna@почта.рф", "anna@xn--80a1acny.xn--p1ai"),
    ],
)
def test_unknown_provider_is_only_lower_cased(email, canonical):
    assert normalize_email(email) == canonical


@pytest.mark.parametrize(
    ("email", "result"),
    [
        (" Not An Email ", "not an email"),
        ("a@b@gmail.com", "a@b@gmail.com"),
        ("@gmail.com", "@gmail.com"),
        ("Anna@", "anna@"),
        ("", ""),
        ("+shop@gmail.com", "+shop@gmail.com"),  # no login left: kept as written
    ],
)
def test_malformed_email_is_returned_lower_cased(email, result):
    assert normalize_email(email) == result


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("anna@GoogleMail.com", "gmail.com"),
        ("anna@ya.ru", "yandex.ru"),
        ("Anna@Shop.Example", "shop.example"),
        ("nothing", ""),
        ("anna@", ""),
    ],
)
def test_email_domain_is_the_normalized_domain(email, domain):
    assert email_domain(email) == domain


@pytest.mark.parametrize(
    ("email", "disposable"),
    [
        ("bot@mailinator.com", True),
        ("bot@MAILINATOR.com", True),
        ("bot@a.b.mailinator.com", True),
        ("anna@gmail.com", False),
        ("anna@mailinator.com.example", False),  # a parent, not a child
        ("no address", False),
    ],
)
def test_disposable_domains_and_their_subdomains(email, disposable):
    assert is_disposable_email(email) is disposable


@pytest.mark.parametrize(
    ("phone", "region", "e164"),
    [
        ("8 (912) 345-67-89", "RU", "+79123456789"),
        ("+7 912 345 67 89", "RU", "+79123456789"),
        ("+7 912 345 67 89", "US", "+79123456789"),
        ("(202) 555-0143", "US", "+12025550143"),
        ("+44 20 7946 0958", "RU", "+442079460958"),
        ("not a phone", "RU", None),
        ("12", "RU", None),
        ("", "RU", None),
    ],
)
def test_phones_become_e164(phone, region, e164):
    assert normalize_phone(phone, region) == e164


@pytest.mark.parametrize(
    ("ip", "canonical", "network"),
    [
        ("203.0.113.7", "203.0.113.7", "203.0.113.0/24"),
        (" 203.0.113.255 ", "203.0.113.255", "203.0.113.0/24"),
        ("2001:DB8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:0db8:0001:0002::1", "2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::1", "::1", "::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7", "203.0.113.0/24"),
        ("::ffff:cb00:7107", "203.0.113.7", "203.0.113.0/24"),
    ],
)
def test_ip_addresses_and_their_networks(ip, canonical, network):
    assert normalize_ip(ip) == canonical
    assert ip_network(ip) == network


@pytest.mark.parametrize("ip", ["", "localhost", "203.0.113", "256.1.1.1", "1.2.3.4/24", "::g"])
def test_invalid_ip_is_none(ip):
    assert normalize_ip(ip) is None
    assert ip_network(ip) is None


@pytest.mark.parametrize(
    ("ua", "normalized"),
    [
        ("  Mozilla/5.0  (X11;\tLinux)\n Firefox/128.0 ", "Mozilla/5.0 (X11; Linux) Firefox/128.0"),
        ("", ""),
        ("x" * 600, "x" * 500),
        ("x" * 499 + " yz", "x" * 499),
    ],
)
def test_user_agent_whitespace_is_collapsed_and_length_cut(ua, normalized):
    assert normalize_user_agent(ua) == normalized


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Иван Петров", "Иван Петров"),
        ("Иван Петров", "петров иван"),
        ("Пётр Семёнов", "Петр Семенов"),
        ("Ivan Petrov", "Иван Петров"),
        ("Petrov Ivan", "Иван Петров"),
        ("Андрей Журавлёв", "Andrey Zhuravlev"),
        ("Ivan Petrov", "Ivan Petorv"),
        ("Иван Петров", "Иван Петровв"),
        ("José  García", "jose garcia"),
        ("Jean-Pierre Dupont", "Dupont, Jean Pierre"),
        ("Conor O'Brien", "Conor OBrien"),
        ("Alexander", "ALEXANDER"),
    ],
)
def test_names_of_one_person_are_similar(a, b):
    assert similar_names(a, b)
    assert similar_names(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Иван Петров", "Иван Сидоров"),
        ("Иван Петров", "Мария Петрова-Кузнецова"),
        ("Anna Smith", "John Brown"),
        ("Иван", "Иван"),  # a common first name alone says nothing
        ("Ivan", "Иван"),
        ("Иван Петров", "Петров"),
        ("Al", "Al"),
        ("A B", "A B"),
        ("", ""),
        ("!!!", "..."),
    ],
)
def test_different_or_too_little_names_are_not_similar(a, b):
    assert not similar_names(a, b)
    assert not similar_names(b, a)


@pytest.mark.parametrize(
    ("email", "pattern", "matches"),
    [
        ("bot@spam.example", "*@spam.example", True),
        ("Bot@SPAM.example", "*@Spam.Example", True),
        ("bot42@shop.example", "bot*@*", True),
        ("anna@shop.example", "bot*@*", False),
        ("b.o.t+x@gmail.com", "bot@gmail.com", True),  # normalized form matches
        ("b.o.t+x@gmail.com", "b.o.t+*@gmail.com", True),  # raw form matches
        ("bot+x@gmail.com", "b.o.t@gmail.com", True),  # a literal pattern is a mailbox
        ("anna@gmail.com", "bot@gmail.com", False),
        ("anna@gmail.com", "", False),
    ],
)
def test_email_block_patterns(email, pattern, matches):
    assert email_matches(email, pattern) is matches


@pytest.mark.parametrize(
    ("ip", "cidr", "inside"),
    [
        ("203.0.113.7", "203.0.113.0/24", True),
        ("203.0.114.7", "203.0.113.0/24", False),
        ("203.0.113.7", "203.0.113.7", True),
        ("203.0.113.8", "203.0.113.7", False),
        ("203.0.113.7", "203.0.113.1/24", True),  # host bits in the range are ignored
        ("::ffff:203.0.113.7", "203.0.113.0/24", True),
        ("2001:db8:1:2::9", "2001:db8::/32", True),
        ("2001:db9::1", "2001:db8::/32", False),
        ("2001:db8::1", "2001:db8::1", True),
        ("203.0.113.7", "::/0", False),
        ("garbage", "203.0.113.0/24", False),
        ("203.0.113.7", "garbage", False),
        ("203.0.113.7", "", False),
    ],
)
def test_ip_ranges(ip, cidr, inside):
    assert ip_in_range(ip, cidr) is inside


def test_signal_values_are_normalized_by_kind():
    identity = Identity(
        email="Anna.Petrova+shop@GoogleMail.com",
        phone="8 (912) 345-67-89",
        device_id=" dev-1 ",
        visitor_id=" vis-1 ",
        card_fingerprint=" card-1 ",
        ip="::ffff:203.0.113.7",
        user_agent=" Mozilla/5.0   Firefox ",
    )
    assert signal_values(identity) == {
        "email": "annapetrova@gmail.com",
        "phone": "+79123456789",
        "device": "dev-1",
        "visitor": "vis-1",
        "card": "card-1",
        "ip": "203.0.113.7",
        "ip_net": "203.0.113.0/24",
        "user_agent": "Mozilla/5.0 Firefox",
    }


def test_signal_values_use_the_phone_region():
    assert signal_values(Identity(phone="(202) 555-0143"), phone_region="US") == {
        "phone": "+12025550143"
    }


def test_signal_values_leave_out_empty_and_invalid_inputs():
    identity = Identity(
        email="not an email",
        phone="call me",
        device_id="   ",
        visitor_id="",
        card_fingerprint=None,
        ip="999.1.1.1",
        user_agent=" \t ",
    )
    assert signal_values(identity) == {}
    assert signal_values(Identity()) == {}
    assert hashed_signals(Identity()) == {}


@pytest.mark.parametrize("field", ["email", "ip"])
def test_identity_is_immutable(field):
    identity = Identity(email="anna@example.ru", ip="203.0.113.7")
    with pytest.raises(FrozenInstanceError):
        setattr(identity, field, "changed")


def test_aliases_of_one_mailbox_hash_equal():
    one = hashed_signals(Identity(email="Anna.Petrova+a@gmail.com"))
    other = hashed_signals(Identity(email="annapetrova@googlemail.com"))
    assert one["email"] == other["email"]
    assert len(one["email"]) == 64


def test_different_mailboxes_hash_differently():
    one = hashed_signals(Identity(email="anna@gmail.com"))
    other = hashed_signals(Identity(email="anya@gmail.com"))
    assert one["email"] != other["email"]


def test_ip_hash_is_the_one_the_redirect_stores():
    hashes = hashed_signals(Identity(ip=" 2001:0DB8::0001 "))
    assert hashes["ip"] == keyed_hash("2001:db8::1", purpose="ip")
    assert hashes["ip_net"] == keyed_hash("2001:db8::/64", purpose="ip_net")


def test_hash_purpose_is_the_kind():
    hashes = hashed_signals(Identity(device_id="same", visitor_id="same"))
    assert hashes["device"] == keyed_hash("same", purpose="device")
    assert hashes["device"] != hashes["visitor"]


emails = st.one_of(
    st.text(),
    st.builds(
        "{}@{}".format,
        st.text(alphabet="aAbB.+-_ёЁ", max_size=12),
        st.sampled_from(
            [
                "gmail.com",
                "GoogleMail.com",
                "yandex.com",
                "ya.ru",
                "proton.me",
                "yahoo.com",
                "outlook.com",
                "gmx.de",
                "example.ru",
                "почта.рф",
                "ｇmail.com",
            ]
        ),
    ),
)


@given(emails)
def test_normalize_email_is_idempotent(email):
    once = normalize_email(email)
    assert normalize_email(once) == once


names = st.text(alphabet="ИванПетровIvanPetrovёé -'", max_size=30)


@given(names, names)
def test_similar_names_is_symmetric(a, b):
    assert similar_names(a, b) == similar_names(b, a)


words = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяabcdefghijklmnopqrstuvwxyz", min_size=2)


@given(st.lists(words, min_size=2, max_size=4))
def test_words_of_a_name_in_any_order_are_similar(parts):
    assert similar_names(" ".join(parts), " ".join(reversed(parts))) == similar_names(
        " ".join(parts), " ".join(parts)
    )
