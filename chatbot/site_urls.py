from django.urls import path

from chatbot import views

app_name = "chatbot_site"

urlpatterns = [
    path("", views.chat_page, name="chat"),
]
