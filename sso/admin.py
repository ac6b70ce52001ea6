from django.contrib import admin

from sso.models import GroupMapping, ProviderIdentity


@admin.register(GroupMapping)
class GroupMappingAdmin(admin.ModelAdmin):
    list_display = ["provider_group", "group"]
    list_select_related = ["group"]
    list_filter = ["group"]
    search_fields = ["provider_group", "group__name"]


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(admin.ModelAdmin):
    list_display = ["user", "subject", "issuer"]
    list_select_related = ["user"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "last_login_groups"]

    def has_add_permission(self, request):
        return False  # identities are made by signing in
