from pathlib import Path

from genlab.train import run


def test_fast_dev_run_default(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("debug=fast")
    run(cfg)
    assert (tmp_path / "run" / "metrics.json").is_file()
