"""Secrets: sealed at rest, masked in sight, scrubbed from text."""

from __future__ import annotations

import pickle
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import conveyor.crypto
from conveyor.crypto import (
    MASK,
    PASSWORD_KEY,
    Redactor,
    SecretBox,
    load_or_create_key,
    mask_options,
    mask_url,
    masked_form,
    redact,
    split_password,
    split_secrets,
    with_password,
    with_secrets,
)
from conveyor.errors import ConfigurationError, InvalidInput


def test_password_round_trips_through_split_and_join() -> None:
    url = "postgresql://app:p%40ss:w0rd@db.example.com:5432/shop?sslmode=require"
    bare, password = split_password(url)
    assert password == "p@ss:w0rd"
    assert "w0rd" not in bare
    assert split_password(with_password(bare, password))[1] == password


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("mysql://root:hunter2@localhost/db") == "mysql://root:***@localhost/db"
    assert mask_url("sqlite:///data.db") == "sqlite:///data.db"


def test_secret_options_are_masked_by_name() -> None:
    masked = mask_options({"password": "x", "api_key": "y", "timeout": 5, "sslmode": "require"})
    assert masked == {"password": "***", "api_key": "***", "timeout": 5, "sslmode": "require"}


def test_box_seals_and_opens() -> None:
    box = SecretBox(Fernet.generate_key())
    sealed = box.seal({"password": "hunter2"})
    assert sealed is not None and "hunter2" not in sealed
    assert box.open(sealed) == {"password": "hunter2"}
    with pytest.raises(ConfigurationError, match="CONVEYOR_SECRET_KEY"):
        SecretBox(Fernet.generate_key()).open(sealed)


def test_generated_key_file_is_private(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path, None)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path, None) == key
    with pytest.raises(ConfigurationError):
        load_or_create_key(tmp_path, "not-a-key")


def test_redactor_scrubs_its_secrets_url_passwords_and_assignments() -> None:
    redactor = Redactor.of("s3cr3t-value")
    text = "connect postgresql://u:pw@h/db failed; token s3cr3t-value; password=abc123 rest"
    cleaned = redactor.redact(text)
    assert "pw@" not in cleaned and "s3cr3t-value" not in cleaned and "abc123" not in cleaned
    assert "postgresql://u:***@h/db" in cleaned


def test_the_generic_patterns_need_no_secret() -> None:
    assert redact("postgresql://u:hunter2@h/db") == "postgresql://u:***@h/db"
    assert redact("dsn: host=h password=hunter2 user=u") == "dsn: host=h password=*** user=u"
    assert redact("sslpassword=k3y;api_key: abc;client_secret=xyz") == (
        "sslpassword=***;api_key: ***;client_secret=***"
    )
    assert redact("…/db?sslmode=require&password=hunter2") == "…/db?sslmode=require&password=***"
    assert redact("database 'zebra42' does not exist") == "database 'zebra42' does not exist"
    assert redact("3 passwords: changed") == "3 passwords: changed"


def test_a_redactor_masks_its_own_secrets_and_no_one_elses() -> None:
    mine = Redactor.of("canaryA-5f1e")
    theirs = Redactor.of("zebra42", "wrong", "nope")  # another workspace's, never combined
    error = "database 'zebra42' does not exist; wrongdb; id nope; key canaryA-5f1e"
    assert mine.redact(error) == "database 'zebra42' does not exist; wrongdb; id nope; key ***"
    assert "zebra42" in theirs.redact("x") + error  # (theirs is a value, used for their text)
    assert theirs.redact("database 'zebra42'; wrongdb; nope") == "database '***'; wrongdb; ***"


def test_short_secrets_are_masked_as_whole_words_and_tiny_ones_not_at_all() -> None:
    own = Redactor.of("test", "postgres")
    assert (
        own.redact("user 'postgres' password 'test' failed") == "user '***' password '***' failed"
    )
    assert own.redact("latest test_db postgresql://h/db") == "latest test_db postgresql://h/db"
    long_one = Redactor.of("Long-Secret-99")
    assert long_one.redact("xLong-Secret-99y") == "x***y", "a long secret is masked anywhere"
    assert Redactor.of("ab", "", None, True).secrets == frozenset()
    assert Redactor.of("a b/c").redact("as URL: a%20b%2Fc, as form: a+b%2Fc") == (
        "as URL: ***, as form: ***"
    )


def test_redactors_combine_hide_their_secrets_and_cross_processes() -> None:
    run = Redactor.of("source-pw-123") | Redactor.of("target-pw-456")
    assert run.redact("source-pw-123 then target-pw-456") == "*** then ***"
    assert "pw" not in repr(run)
    copied = pickle.loads(pickle.dumps(run))
    assert copied == run and copied.redact("target-pw-456") == MASK
    assert not Redactor() and run


def test_there_is_no_process_wide_list_of_secrets() -> None:
    box = SecretBox(Fernet.generate_key())
    box.open(box.seal({"password": "opened-secret-1"}))
    assert Redactor().redact("opened-secret-1") == "opened-secret-1"
    assert redact("opened-secret-1") == "opened-secret-1"
    assert not hasattr(conveyor.crypto, "REDACTOR")


def test_a_connections_redactor_knows_its_url_parameter_and_option_secrets() -> None:
    redactor = Redactor.for_connection(
        "postgresql://u:url-pw-1@h/db?sslmode=require&sslpassword=ssl%2Bpw&password=q-pw-22",
        {"password": "opt-pw-3", "api_key": 12345, "timeout": 5, "region": "eu-1"},
        secret_names=("region",),
    )
    text = "url-pw-1 ssl+pw q-pw-22 opt-pw-3 12345 5 eu-1 require"
    assert redactor.redact(text) == "*** *** *** *** *** 5 *** require"


def test_query_secrets_are_split_out_and_put_back_exactly() -> None:
    url = "postgresql://app:p%40ss@db:5432/shop?sslmode=require&password=p%40ss&x=a+b%26c"
    bare, secrets = split_secrets(url)
    assert bare == "postgresql://app@db:5432/shop?sslmode=require&x=a+b%26c"
    assert secrets == {PASSWORD_KEY: "p@ss", "?password": "p%40ss"}
    restored = with_secrets(bare, {**secrets, "api_key": "an option, not part of the URL"})
    assert (
        restored == "postgresql://app:p%40ss@db:5432/shop?sslmode=require&x=a+b%26c&password=p%40ss"
    )
    assert split_secrets(restored) == (bare, secrets)
    only = split_secrets("mysql://app@db/shop?api_key=k+1&token=t&ssl=1", ("ssl",))
    assert only == ("mysql://app@db/shop", {"?api_key": "k+1", "?token": "t", "?ssl": "1"})
    assert split_secrets("sqlite:///x.db?mode=ro") == ("sqlite:///x.db?mode=ro", {})
    local = split_secrets("file:///data/in?format=csv&token=t0k3n")
    assert local == ("file:///data/in?format=csv", {"?token": "t0k3n"})
    assert with_secrets(*local) == "file:///data/in?format=csv&token=t0k3n"
    assert mask_url("file:///data/in?token=t0k3n") == "file:///data/in?token=***"


def test_query_secrets_given_twice_or_contradicting_are_refused() -> None:
    with pytest.raises(InvalidInput, match="twice"):
        split_secrets("postgresql://u@h/db?password=a1&password=a1")
    with pytest.raises(InvalidInput, match="two different passwords") as refused:
        split_secrets("postgresql://u:first-pw@h/db?password=second-pw")
    assert "first-pw" not in refused.value.message and "second-pw" not in refused.value.message
    assert split_secrets("postgresql://u:same@h/db?password=same")[0] == "postgresql://u@h/db"
    masked = split_secrets(f"postgresql://u:{MASK}@h/db?password=new-pw")  # sent back masked
    assert masked[1] == {PASSWORD_KEY: MASK, "?password": "new-pw"}


def test_urls_are_shown_with_every_secret_masked() -> None:
    assert mask_url("postgresql://u:pw@h/db?sslmode=require&password=pw&api_key=k") == (
        "postgresql://u:***@h/db?sslmode=require&password=***&api_key=***"
    )
    assert (
        mask_url("mysql://u@h/db?tls=1&region=x", ("region",)) == "mysql://u@h/db?tls=1&region=***"
    )
    bare, secrets = split_secrets("postgresql://u:pw@h/db?sslmode=require&password=pw")
    assert masked_form(bare, secrets) == "postgresql://u:***@h/db?sslmode=require&password=***"
    assert masked_form("postgresql://u@h/db", ["?password"]) == "postgresql://u@h/db?password=***"
    assert masked_form("postgresql://u@h/db", []) == "postgresql://u@h/db"
