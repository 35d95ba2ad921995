from django.contrib.auth import views as auth_views
from django.urls import path

from broker.dashboard import actions, audit_page, ops, views

app_name = "dashboard"

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.metrics_view, name="metrics"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="dashboard:login"), name="logout"),
    path("", views.worklist_today, name="worklist"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("hl7/", views.hl7_list, name="hl7"),
    path("hl7/<int:pk>/", views.hl7_detail, name="hl7_detail"),
    path("hl7/<int:pk>/replay", actions.replay_hl7, name="hl7_replay"),
    path("queues/routing/", views.routing_queue, name="routing"),
    path("queues/routing/jobs/<int:pk>/retry", actions.retry_job, name="job_retry"),
    path("queues/routing/jobs/<int:pk>/give-up", actions.give_up_job, name="job_give_up"),
    path("studies/<int:pk>/complete", actions.complete_study, name="study_complete"),
    path("studies/<int:pk>/release", actions.release_study, name="study_release"),
    path("queues/outbound/", views.outbound_queue, name="outbound"),
    path("queues/outbound/notifications/<int:pk>/retry", actions.retry_notification, name="notification_retry"),
    path("queues/outbound/notifications/<int:pk>/give-up", actions.give_up_notification, name="notification_give_up"),
    path("queues/outbound/forwards/<int:pk>/retry", actions.retry_forward, name="forward_retry"),
    path("queues/outbound/forwards/<int:pk>/give-up", actions.give_up_forward, name="forward_give_up"),
    path("queues/outbound/availability/<int:pk>/retry", actions.retry_availability, name="availability_retry"),
    path("queues/outbound/availability/<int:pk>/give-up", actions.give_up_availability, name="availability_give_up"),
    path("queries/", views.query_list, name="queries"),
    path("queries/<int:pk>/", views.query_detail, name="query_detail"),
    path("mpps/<int:pk>/", views.mpps_detail, name="mpps_detail"),
    path("mpps/<int:pk>/link", actions.link_mpps, name="mpps_link"),
    path("problems/", views.problem_list, name="problems"),
    path("conformance/", views.conformance_statement, name="conformance"),
    path("audit/", audit_page.audit_trail, name="audit"),
]
