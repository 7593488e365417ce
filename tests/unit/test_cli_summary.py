"""The end-of-run summary's line about what a night changed."""


def test_the_summary_says_what_the_night_changed() -> None:
    from flows.cli import _describe_night
    from storage.runs import Night

    assert _describe_night(Night(full=True, signature="s")).startswith("night: full run")
    line = _describe_night(
        Night(full=False, signature="s", whole=["NEW"], extended=["A", "B"], unchanged=["C"])
    )
    assert "1 symbol(s) new or restated" in line
    assert "2 extended by new bars" in line
    assert "1 unchanged" in line
    assert "removed" not in line
    gone = _describe_night(Night(full=False, signature="s", unchanged=["C"], removed=["X", "Y"]))
    assert "2 removed (no longer in the input" in gone
