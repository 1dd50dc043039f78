from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from billing.selectors import team_list_for_user


def home(request):
    if request.user.is_authenticated:
        return redirect("billing:team-list")
    return redirect("login")


@login_required
def team_list(request):
    return render(request, "billing/team_list.html", {"teams": team_list_for_user(user=request.user)})
