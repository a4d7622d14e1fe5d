from django.core.exceptions import ValidationError

from stipula.errors import ValidationFailed


def full_clean(obj, **kwargs) -> None:
    """Run the model's own checks; a failure becomes one ValidationFailed naming each field."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as error:
        messages = []
        for field, errors in error.message_dict.items():
            label = obj._meta.get_field(field).verbose_name if field != "__all__" else ""
            prefix = f"{label}: " if label else ""
            messages.extend(prefix + str(e) for e in errors)
        raise ValidationFailed(" ".join(messages)) from None
