import subprocess
import sys


def test_default_engine_never_imports_torch():
    """The default install must not need torch: the packaged ONNX model runs without it."""
    code = (
        "import sys, remem\n"
        "m = remem.Memory(':memory:')\n"
        "m.add('I adopted a puppy called Rex', user_id='u')\n"
        "hits = m.search('dog', user_id='u')\n"
        "assert hits and 'puppy' in hits[0].text, hits\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('torch', 'transformers', 'sentence_transformers')]\n"
        "assert not bad, bad\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
