from django.contrib import admin

from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementVersion,
    Organisation,
    OrganisationMember,
    Signatory,
)


class MemberInline(admin.TabularInline):
    model = OrganisationMember
    extra = 0


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "fiscal_code", "vat_number", "ipa_code")
    list_filter = ("kind",)
    search_fields = ("name", "fiscal_code", "vat_number", "ipa_code")
    inlines = [MemberInline]


class PartyInline(admin.TabularInline):
    model = AgreementParty
    extra = 0
    can_delete = False


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    """Read-mostly: state and content change only through the services (and the web UI)."""

    list_display = ("subject", "kind", "state", "legal_officer", "created_at")
    list_filter = ("state", "kind")
    search_fields = ("subject",)
    readonly_fields = ("state", "current_version", "approved_version", "closing_reason")
    inlines = [PartyInline]

    def has_add_permission(self, request):
        return False


@admin.register(Signatory)
class SignatoryAdmin(admin.ModelAdmin):
    list_display = ("full_name", "title", "party", "authorising_act")
    search_fields = ("full_name", "fiscal_code")


@admin.register(AgreementVersion)
class AgreementVersionAdmin(admin.ModelAdmin):
    list_display = ("agreement", "number", "author", "created_at", "docx_sha256")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
