"""(placeholder: being written)"""

urlpatterns = []
