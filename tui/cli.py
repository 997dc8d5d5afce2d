"""``hybrid tui``: the dashboard, joined to the ``hybrid`` command through the ``hybrid.commands`` entry point."""

from __future__ import annotations

import click

from hybrid.errors import HybridError


def _cloud_status(router) -> str:
    name = router.settings.routing.cloud
    try:
        health = router.backends[name].health()
    except HybridError as e:  # a backend's cheap check should not stop the dashboard
        return f"{name} offline ({e})"
    return f"ok ({name})" if health.ok else f"{name} offline: {health.detail}"


@click.command("tui")
@click.option("--demo/--no-demo", default=False, show_default=True,
              help="Route the built-in demo workload through a real router while the dashboard watches.")
@click.option("--max-tokens", default=48, show_default=True, type=int, help="Tokens per demo answer.")
@click.pass_obj
def command(obj, demo: bool, max_tokens: int) -> None:
    """Live dashboard over the trace store: decisions, savings, controls."""
    from hybrid.budget import BudgetGuard
    from hybrid.demo import run_demo
    from hybrid.runtime import classifier_threshold, load_classifier, open_router, open_trace
    from tui.app import HybridApp
    from tui.training import learning_trainer

    settings, paths = obj.settings, obj.paths
    if demo and (obj.no_log or not settings.trace.enabled):
        raise HybridError("the dashboard shows the trace store, so --demo needs logging on; drop --no-log "
                          "(or set trace.enabled = true)")
    router = open_router(settings, paths) if demo else None
    if router is not None:
        threshold, cloud = router.threshold, _cloud_status(router)
    else:
        configured = settings.routing.threshold
        threshold = configured if configured is not None else classifier_threshold(settings, paths)
        cloud = None
    trace = open_trace(settings, paths)
    app = HybridApp(
        trace,
        config_file=paths.config_file,
        threshold=threshold,
        router=router,
        trainer=learning_trainer(
            settings, paths,
            on_promoted=(lambda: router.use_classifier(load_classifier(settings, paths))) if router else None,
        ),
        workload=(lambda cancel, on_event: run_demo(router, max_tokens=max_tokens, cancel=cancel, on_event=on_event))
        if router is not None else None,
        cloud_status=cloud,
        budget=router.guards.budget if router is not None else BudgetGuard(settings.budget, trace),
    )
    try:
        app.run()
    finally:
        app.demo_idle.wait(timeout=10)  # let a demo request in flight finish writing its trace
        if router is not None:
            router.close()
        trace.close()
