from django.apps import AppConfig


class EcomarketConfig(AppConfig):
    name = "ecomarket"
    verbose_name = "EcoMarket"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished

        from ecomarket import db, labels, logs, middleware

        db.connect_checks_install()
        labels.labels_install()
        request_finished.connect(logs.context_clear, dispatch_uid="ecomarket.logs.context_clear")
        user_logged_in.connect(middleware.session_lifetime_begin, dispatch_uid="ecomarket.session_lifetime_begin")
