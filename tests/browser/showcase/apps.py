from django.apps import AppConfig


class ShowcaseConfig(AppConfig):
    name = "tests.browser.showcase"
    label = "showcase"
