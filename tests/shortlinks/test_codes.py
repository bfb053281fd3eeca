from shortlinks.codes import CodeGenerator, is_well_formed


def test_100000_codes_are_distinct_short_and_each_decodes_to_its_own_counter():
    codes = CodeGenerator("a-secret-of-sixteen+")
    generated = [codes.encode(counter) for counter in range(1, 100_001)]
    assert len(set(generated)) == len(generated)
    assert all(6 <= len(code) <= 8 and is_well_formed(code) for code in generated)
    for counter, code in enumerate(generated, start=1):
        assert codes.counter_of(code) == counter  # never a neighbour's


def test_the_same_counter_gives_different_codes_so_neighbours_are_not_guessable():
    codes = CodeGenerator("a-secret-of-sixteen+")
    assert len({codes.encode(7) for _ in range(50)}) > 40


def test_codes_depend_on_the_secret():
    one, other = CodeGenerator("secret-number-one!!"), CodeGenerator("secret-number-two!!")
    code = one.encode(12345)
    assert other.counter_of(code) != 12345


def test_malformed_codes_are_recognised_without_any_store():
    assert not is_well_formed("ab")
    assert not is_well_formed("a" * 65)
    assert not is_well_formed("../etc")
    assert not is_well_formed("abc.def")
    assert not is_well_formed("abc def")
    assert not is_well_formed("ÄbcDef")
    assert not is_well_formed("")


def test_generated_and_vanity_codes_are_both_well_formed():
    assert is_well_formed("Ab3dEf")
    assert is_well_formed("abc")
    assert is_well_formed("summer-sale_2026")
    assert is_well_formed("a" * 64)
