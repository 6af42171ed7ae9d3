"""Branch mode: the cash drawer's staff pages."""


def cash_home(request):
    raise NotImplementedError


def cash_session(request, session_id):
    raise NotImplementedError


def cash_z(request, session_id):
    raise NotImplementedError
