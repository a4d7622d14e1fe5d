"""The Atom feed of the latest registrations, for the public (the seed's «diffusione»).

It carries what the public page shows and nothing more: number, date, subject, parties, and the
annulment's date and reason when there is one (see registry/views_public.py for what is public).
"""

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.selectors import public_registrations
from registry.services import rome_now

FEED_SIZE = 50


class LatestRegistrationsFeed(Feed):
    feed_type = Atom1Feed
    title = gettext_lazy("Registered agreements")
    subtitle = gettext_lazy(
        "The latest agreements given a number in the registers, annulled ones marked."
    )

    def link(self):
        return reverse("registry_public:index")

    def feed_url(self):
        return reverse("registry_public:feed")

    def items(self):
        return public_registrations()[:FEED_SIZE]

    def item_title(self, item):
        title = f"{item.label} · {item.subject}"
        if item.is_annulled:
            return _("[Annulled] %(title)s") % {"title": title}
        return title

    def item_description(self, item):
        local = rome_now(item.registered_at)
        lines = [
            _("Registered on %(date)s as %(label)s.")
            % {"date": local.strftime("%d/%m/%Y %H:%M"), "label": item.label},
            _("Parties: %(parties)s.") % {"parties": "; ".join(p["name"] for p in item.parties)},
            _("Impronta (SHA-256): %(sha256)s") % {"sha256": item.document_sha256},
        ]
        if item.is_annulled:
            lines.append(
                _("Annulled on %(date)s: %(reason)s")
                % {
                    "date": item.annulment.annulment_date.strftime("%d/%m/%Y"),
                    "reason": item.annulment.reason,
                }
            )
        return "\n".join(lines)

    def item_link(self, item):
        return reverse(
            "registry_public:registration", args=[item.register.code, item.year, item.number]
        )

    def item_pubdate(self, item):
        return item.registered_at

    def item_updateddate(self, item):
        return item.annulment.annulled_at if item.is_annulled else item.registered_at

    def item_categories(self, item):
        return [item.register.code]
