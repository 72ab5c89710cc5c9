import pytest

from curation.extract import extract_answer

CASES = [
    # (model output, expected answer, expected method)
    ("<answer>42</answer>", "42", "tag"),
    ("First I thought <answer>3</answer>, but no.\n<answer> 5 </answer>", "5", "tag"),
    ("<ANSWER>\nParis\n</ANSWER>", "Paris", "tag"),
    ("The sum is $\\boxed{17}$.", "17", "boxed"),
    ("So \\boxed{\\frac{1}{2}} is it.", "\\frac{1}{2}", "boxed"),
    ("\\boxed{3} then again \\boxed{4}", "4", "boxed"),
    ("The final answer is $\\boxed{-4}$. Answer: 9", "-4", "boxed"),
    ("unbalanced \\boxed{12 and 7", "7", "last_number"),
    ("4 - 1 = 3, then 3 - 7 = -4.\nAnswer: -4", "-4", "answer_line"),
    ("Answer: 12.", "12", "answer_line"),
    ("**Answer:** 42", "42", "answer_line"),
    ("**Answer**: yes", "yes", "answer_line"),
    ("Answer: **True**", "True", "answer_line"),
    ("Answer: $12$", "12", "answer_line"),
    ("ANSWER: 7", "7", "answer_line"),
    ("2+3 equals 5. So the answer is: 5", "5", "answer_line"),
    ("The answer is 1,250 apples.", "1,250 apples", "answer_line"),
    ("After counting, the final answer is `r`.", "r", "answer_line"),
    ("Let's compute.\nAnswer: 3 + 4 = 7", "7", "answer_line"),
    ("Answer:\n\n   -3\n", "-3", "answer_line"),
    ("Answer: 5\nI hope this helps! The answer is 6", "6", "answer_line"),
    ("Answer: x = y + 1", "x = y + 1", "answer_line"),
    ("There are 3 r's in strawberry.", "3", "last_number"),
    ("57 + 87 = 144, and 144 + 70 = 214", "214", "last_number"),
    ("That is 1,234,567 in total", "1234567", "last_number"),
    ("roughly -2.5 degrees", "-2.5", "last_number"),
    ("The ratio is 3/4", "3/4", "last_number"),
    ("10-5=5", "5", "last_number"),
    ("I am not sure how to solve this problem.", None, "none"),
    ("", None, "none"),
]


@pytest.mark.parametrize("text,expected,method", CASES)
def test_extract_answer_finds_the_final_answer(text, expected, method):
    assert extract_answer(text) == (expected, method)


def test_answer_line_beats_an_earlier_number_and_tag_beats_everything():
    text = "Step 1: 2 * 3 = 6.\n<answer>6</answer>\nAnswer: 8\n\\boxed{9}"
    assert extract_answer(text) == ("6", "tag")
    assert extract_answer("Step 1: 2 * 3 = 6.\nAnswer: 8 apples") == ("8 apples", "answer_line")


def test_truncated_output_without_an_answer_falls_back_to_the_last_number():
    text = "To add 4 and 9 we first write 4, then count 9 more: 5, 6, 7, 8, 9, 10, 11"
    assert extract_answer(text) == ("11", "last_number")
