"""The first use of SmolLM2 converts it (a minute, silent otherwise): a line on stderr says so."""

import pytest

from attnflow.lm import models


def test_first_conversion_announces_itself(tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformers")
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path))

    def stop(package, distribution):  # stop right after the announcement: the conversion is not the point
        raise FileNotFoundError(distribution)

    monkeypatch.setattr(models, "_wheel_dir", stop)
    with pytest.raises(FileNotFoundError):
        models._smollm2_dir()
    err = capsys.readouterr().err
    assert "converting SmolLM2-135M" in err and "once" in err and str(tmp_path) in err
