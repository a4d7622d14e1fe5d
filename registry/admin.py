"""The registry in Django's admin: read only. Registers are created, and registrations made,
changed and annulled, only through registry.services (and the Registry pages), which keep the
history and write the audit trail; the database refuses the rest (audit/dbguard.py)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from registry.models import (
    DailyRegister,
    Register,
    RegisterCounter,
    Registration,
    RegistrationAnnulment,
    RegistrationChange,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Register)
class RegisterAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "kind", "administration_code", "aoo_code", "active")
    list_filter = ("kind", "active")
    search_fields = ("code", "name")


@admin.register(RegisterCounter)
class RegisterCounterAdmin(ReadOnlyAdmin):
    list_display = ("register", "year", "last_number")
    list_filter = ("register", "year")
    list_select_related = ("register",)


class AnnulmentInline(ReadOnlyInline):
    model = RegistrationAnnulment
    fields = ("annulled_at", "reason", "authorised_by", "authorising_act", "operator_name")
    readonly_fields = fields


class ChangeInline(ReadOnlyInline):
    model = RegistrationChange
    fields = ("changed_at", "field", "old_value", "new_value", "actor_name")
    readonly_fields = fields


@admin.register(Registration)
class RegistrationAdmin(ReadOnlyAdmin):
    list_display = ("label", "registered_at", "subject", "operator_name", "annulled")
    list_filter = ("register", "year")
    list_select_related = ("register", "annulment")
    search_fields = ("subject", "document_sha256", "=number")
    date_hierarchy = "registration_date"
    inlines = [AnnulmentInline, ChangeInline]

    @admin.display(boolean=True, description=_("annulled"))
    def annulled(self, obj):
        return obj.is_annulled


@admin.register(RegistrationAnnulment)
class RegistrationAnnulmentAdmin(ReadOnlyAdmin):
    list_display = ("registration", "annulled_at", "authorised_by", "authorising_act")
    list_select_related = ("registration__register",)


@admin.register(RegistrationChange)
class RegistrationChangeAdmin(ReadOnlyAdmin):
    list_display = ("registration", "field", "old_value", "new_value", "changed_at", "actor_name")
    list_select_related = ("registration__register",)


@admin.register(DailyRegister)
class DailyRegisterAdmin(ReadOnlyAdmin):
    list_display = ("day", "produced_at", "registrations", "annulments", "changes", "due_by")
