from django.contrib import admin
from django.contrib.auth.models import Group

from incidents.roles import ROLES
from sso.models import GroupMapping, ProviderIdentity


@admin.register(GroupMapping)
class GroupMappingAdmin(admin.ModelAdmin):
    list_display = ["provider_group", "group"]
    list_select_related = ["group"]
    list_filter = ["group"]
    search_fields = ["provider_group", "group__name"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A provider group grants one of Fireline's declared roles (incidents/roles.py), whose rights are
        # written down and reviewed; a group someone made by hand in the admin is not offered.
        if db_field.name == "group":
            kwargs["queryset"] = Group.objects.filter(name__in=ROLES.keys()).order_by("name")
            field = super().formfield_for_foreignkey(db_field, request, **kwargs)
            field.label_from_instance = lambda group: f"{group.name}: {ROLES[group.name].purpose}"
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "subject", "issuer"]
    list_select_related = ["user"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "last_login_groups"]

    def has_add_permission(self, request):
        return False  # identities are made by signing in
