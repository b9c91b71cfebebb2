from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user model, swappable from the first migration so a host platform can extend it."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
