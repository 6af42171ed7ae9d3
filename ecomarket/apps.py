from django.apps import AppConfig


class EcomarketConfig(AppConfig):
    name = "ecomarket"
    verbose_name = "EcoMarket"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished
        from django.db.models.signals import post_migrate

        from ecomarket import db, generations, labels, logs, middleware

        db.connect_checks_install()
        labels.labels_install()
        request_finished.connect(logs.context_clear, dispatch_uid="ecomarket.logs.context_clear")
        user_logged_in.connect(middleware.session_lifetime_begin, dispatch_uid="ecomarket.session_lifetime_begin")
        # The staff tokens' cache (ecomarket/auth.py): a token, its user's standing or their roles changed.
        generations.watch(
            "auth",
            {
                "ecomarket_stafftoken": None,
                "auth_user": ("id", "username", "is_active", "is_staff", "is_superuser"),
                "auth_user_groups": None,
                "auth_group": ("id", "name"),
            },
        )
        post_migrate.connect(generations.triggers_install, sender=self, dispatch_uid="ecomarket.generations")
