"""Deliveries are claimed ("sending") before the e-mail goes out, so the sweep that recovers
e-mails lost to a crash sends each once."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rewards', '0004_scrub_provider_messages'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=1, verbose_name='attempts'),
        ),
        migrations.AddField(
            model_name='delivery',
            name='claimed_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='sending since'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='status',
            field=models.CharField(choices=[('sent', 'sent'), ('failed', 'failed'), ('sending', 'sending')], max_length=8, verbose_name='status'),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status', 'sending')), fields=['claimed_at'], name='delivery_interrupted'),
        ),
        migrations.AddIndex(
            model_name='reward',
            index=models.Index(fields=['status', 'issued_at'], name='reward_issued'),
        ),
        migrations.AddConstraint(
            model_name='delivery',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'sending')), fields=('reward', 'kind'), name='delivery_one_send_at_a_time'),
        ),
    ]
