from django.http import HttpRequest, HttpResponse


def redirect(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse(status=404)


def qr_svg(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse(status=404)


def qr_png(request: HttpRequest, code: str) -> HttpResponse:
    return HttpResponse(status=404)
