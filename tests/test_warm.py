"""pages/warm.py: the warm-up app.py starts once per process after its first page."""
import gc
import sys

from pages import warm


def test_the_warm_up_imports_every_analysis_module_but_the_entry_point():
    names = warm._analysis_modules()
    assert "analysis.__main__" not in names  # importing it would run the command line
    assert {"analysis.metrics.stats", "analysis.present.report",
            "analysis.metrics.registry"} <= set(names)


def test_the_warm_up_leaves_start_up_objects_out_of_later_collections():
    try:
        warm._warm()
        assert all(name in sys.modules for name in warm._analysis_modules())
        # What start-up made is frozen: a collection after a page run no longer walks it.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
