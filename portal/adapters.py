"""allauth adapters: accounts come from the platform team or SSO, not from self sign-up."""
from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return False
