"""The admin names post-mortems the way the rest of Fireline does: "Post-mortem", never "Post mortem"."""

import re

from django.urls import reverse

from incidents.models import DistributionList, PostMortem, PostMortemApproval, PostMortemTemplate


def test_models_are_named_post_mortem():
    assert PostMortem._meta.verbose_name_plural == "post-mortems"
    assert PostMortemTemplate._meta.verbose_name == "post-mortem template"
    assert PostMortemApproval._meta.verbose_name == "post-mortem approval"
    assert DistributionList._meta.verbose_name_plural == "post-mortem distribution lists"


def test_admin_pages_say_post_mortem(client, superuser):
    client.force_login(superuser)
    index = client.get(reverse("admin:app_list", args=["incidents"])).content.decode()
    assert "Post-mortems" in index and "Post-mortem templates" in index
    changelist = client.get(reverse("admin:incidents_postmortem_changelist")).content.decode()
    assert "Select post-mortem to change" in changelist
    add_template = client.get(reverse("admin:incidents_postmortemtemplate_add")).content.decode()
    assert "Add post-mortem template" in add_template
    for page in (index, changelist, add_template):
        assert not re.search(r"[Pp]ost mortem", page), "an unhyphenated 'post mortem' is still on the page"
