from django.contrib import admin

from templates_docx.models import DocxTemplate, TemplateVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    """Templates change only through templates_docx.services (new versions, never edits)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class VersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ("number", "sha256", "uploaded_by", "created_at", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DocxTemplate)
class DocxTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "created_by", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "description")
    inlines = [VersionInline]


@admin.register(TemplateVersion)
class TemplateVersionAdmin(ReadOnlyAdmin):
    list_display = ("template", "number", "uploaded_by", "created_at", "sha256")
    list_filter = ("template",)
    search_fields = ("template__name", "sha256")
