"""The official Jupyter kernel conformance suite (jupyter_kernel_test) against llmlab.

Every attribute is set; only the pager test is skipped (a TypeScript kernel has
no pager payloads). Pytest runs the suite through unittest's runner so that
failing subtests count and any other skip fails the test.
"""
import io
import unittest

import jupyter_kernel_test

from conftest import KERNEL_NAME, warm_up


class LlmlabKernelTests(jupyter_kernel_test.KernelTests):
    # Collected through test_conformance_suite below, not directly by pytest.
    __test__ = False

    kernel_name = KERNEL_NAME
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("something went wrong")'

    completion_samples = [
        {"text": "Math.ma", "matches": {"max"}},
        {"text": "const zebraCount = 3;\nzebraC", "matches": {"zebraCount"}},
        {"text": '"abc".toUpperC', "matches": {"toUpperCase"}},
    ]
    complete_code_samples = [
        "1 + 1",
        "const x = 1;",
        "function f(a: number) {\n  return a * 2;\n}",
        "for (let i = 0; i < 3; i++) console.log(i)",
        "",
    ]
    incomplete_code_samples = [
        "function f(a: number) {",
        "const xs = [1, 2,",
        "if (true) {\n  console.log(1)",
        "const s = `line one",
        "/* a comment",
    ]
    invalid_code_samples = [
        "const = 5",
        "1 +* 2",
        "let 9lives = 9",
        "}",
    ]

    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"hello"', "result": "'hello'"},
        {"code": "[1, 2, 3].map((x) => x * 2)", "result": "[ 2, 4, 6 ]"},
        {"code": "({ a: 1, b: 'two' })", "result": "{ a: 1, b: 'two' }"},
        {
            "code": '({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<b>rich</b>", "text/plain": "rich" }; } })',
            "mime": "text/html",
            "result": "<b>rich</b>",
        },
    ]

    code_display_data = [
        {"code": 'display.html("<b>bold</b>")', "mime": "text/html"},
        {"code": 'display.markdown("# Title")', "mime": "text/markdown"},
        {"code": 'display.svg("<svg xmlns=\'http://www.w3.org/2000/svg\' width=\'10\' height=\'10\'/>")', "mime": "image/svg+xml"},
        {"code": 'display.latex("$x^2$")', "mime": "text/latex"},
        {"code": 'display.json({ a: [1, 2] })', "mime": "application/json"},
        {"code": 'display.png("iVBORw0KGgo=")', "mime": "image/png"},
        {"code": 'display({ "text/html": "<i>bundle</i>", "text/plain": "bundle" })', "mime": "text/html"},
    ]

    code_history_pattern = "6 [*] 7"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "Math.max"
    code_clear_output = "clearOutput()"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        warm_up(cls.kc)


def test_conformance_suite():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(LlmlabKernelTests)
    log = io.StringIO()
    result = unittest.TextTestRunner(stream=log, verbosity=2).run(suite)
    print(log.getvalue())
    problems = [f"{test.id()}: {trace}" for test, trace in result.failures + result.errors]
    assert not problems, "\n".join(problems)
    skipped = sorted(test.id().rsplit(".", 1)[-1] for test, _ in result.skipped)
    assert skipped == ["test_pager"], f"only the pager may be skipped, skipped: {skipped}"
    passed = result.testsRun - len(result.skipped)
    print(f"conformance: {passed} passed, {len(result.skipped)} skipped (pager)")
    assert passed == 11


if __name__ == "__main__":
    unittest.main()
