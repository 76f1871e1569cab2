-- The database floor of POST /api/v1/events: what one average event of the benchmark's mix
-- (half signups of new referred customers, half their first paid orders) writes and locks,
-- each event in ONE transaction, as tracking/services.py, referrals/services.py,
-- rewards/services.py and participants/services.py do it:
--   signup: look the customer up under a row lock (SELECT … FOR NO KEY UPDATE, finds none);
--           INSERT participant + primary link; upsert its five identity signals (e-mail,
--           visitor, IP, IP network, user agent) into fraud_fingerprint; INSERT referral +
--           its history; INSERT event with its signals; INSERT reward already 'issued';
--           INSERT certificate; INSERT its three history steps in one statement; reserve the
--           amount with one conditional UPDATE of the campaign counters; UPDATE the event's
--           answer; its announcements in one INSERT into the outbox.
--   order:  lock the customer (SELECT … FOR NO KEY UPDATE); upsert its identity signals
--           (they exist: the conflict path); INSERT event; INSERT order; UPDATE customer's
--           paid_orders; UPDATE referral to qualified + its history; lock the referrer
--           (monthly limits); then the same reward → certificate → history → campaign
--           reservation path for the referrer; UPDATE the event's answer.
-- Left out on purpose: the application's plain reads (key lookup, participant, referral,
-- link, campaign rules, the anti-fraud counts, the referrer's monthly sum, previous order),
-- its SAVEPOINT for a new customer, the e-mail task enqueued after commit, and Python work. The floor is the writes and row locks that any
-- implementation of the same rules must make, at the same concurrency.
--
-- Run by benchmarks/run.py as:
--   pgbench -n -c N -j 2 -T D -f benchmarks/sql/event.sql -D i=0 -D run=R -D project=P
--     -D campaign=C -D lmin=L1 -D lmax=L2 -D rule_signup=S -D pos_signup=0
--     -D rule_first=F -D pos_first=1 sarafan_bench
-- where lmin..lmax are the ids of the seeded referrers' links. Variables set with \set and
-- \gset persist per client between transactions, so :i counts this client's events: odd
-- ones are signups, even ones the paid order of the customer that client signed up last.
-- :key = (run, client, i) is unique, so public ids, codes and order ids never collide.
-- pgbench substitutes :name even inside string literals (':rule', ':referrer:order'), so
-- the variables set here have names that no literal contains (rw_…).
-- Secrets are never stored in clear: a certificate's code is a hash plus an encrypted copy,
-- its PIN and the portal token likewise; stand-ins of the same sizes are written here.
--
-- tests/test_bench_floor.py runs this script once per branch against the migrated schema
-- and compares the tables it writes and locks with those the services write and lock for
-- the same two events: a new NOT NULL column or a new write fails `make test`, not the
-- benchmark.

\set i :i + 1
\set key (:run * 1000 + :client_id) * 100000000 + :i
BEGIN;
\if :i % 2 = 1
SELECT id FROM participants_participant
WHERE project_id = :project AND livemode = false AND external_id = 'pgb-' || :key
FOR NO KEY UPDATE;
INSERT INTO participants_participant
    (project_id, livemode, public_id, external_id, email, phone, name, attributes, tags,
     consent, referral_code, portal_token_hash, paid_orders, first_order_at, erased_at, created_at,
     updated_at, risk_flags, language, tax_details_encrypted, portal_token_encrypted)
VALUES
    (:project, false, 'prt_q' || :key, 'pgb-' || :key, 'pgb-' || :key || '@example.com', '', '',
     '{}', '[]', '{}', 'Q' || :key,
     encode(sha256(('portal-q' || :key || '-Hk2x9LmQ0rT7vW4yZ1aB3cD5eF6gH8iJ')::bytea), 'hex'), 0,
     NULL, NULL, now(), now(), '[]', '', '', repeat('t', 120))
RETURNING id AS cust \gset
INSERT INTO links_link
    (project_id, livemode, public_id, participant_id, campaign_id, code, channel, utm,
     is_primary, created_at)
VALUES (:project, false, 'lnk_q' || :key, :cust, :campaign, 'Q' || :key, 'link', '{}', true, now());
\else
SELECT id FROM participants_participant WHERE id = :cust FOR NO KEY UPDATE;
\endif
-- Both: the customer's identity signals (the order's are already there: the conflict path).
INSERT INTO fraud_fingerprint
    (project_id, livemode, participant_id, kind, value_hash, first_seen_at, last_seen_at)
VALUES
    (:project, false, :cust, 'email', encode(sha256(('email-' || :cust)::bytea), 'hex'), now(), now()),
    (:project, false, :cust, 'visitor', encode(sha256(('visitor-' || :cust)::bytea), 'hex'), now(), now()),
    (:project, false, :cust, 'ip', encode(sha256(('ip-' || :cust)::bytea), 'hex'), now(), now()),
    (:project, false, :cust, 'ip_net', encode(sha256(('net-' || :client_id)::bytea), 'hex'), now(), now()),
    (:project, false, :cust, 'user_agent', encode(sha256('bench-ua'::bytea), 'hex'), now(), now())
ON CONFLICT (participant_id, kind, value_hash) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at;
\if :i % 2 = 1
\set link random(:lmin, :lmax)
INSERT INTO referrals_referral
    (project_id, livemode, public_id, campaign_id, referrer_id, referee_id, link_id, channel,
     source, status, risk_score, risk_decision, risk_reasons, risk_details, clicked_at,
     created_at, qualified_at)
SELECT :project, false, 'ref_q' || :key, :campaign, l.participant_id, :cust, l.id, 'link',
       'code', 'pending', 0.0, 'allow', '[]', '{}', NULL, now(), NULL
FROM links_link l WHERE l.id >= :link ORDER BY l.id LIMIT 1
RETURNING id AS ref, referrer_id AS rw_referrer \gset
INSERT INTO referrals_referralevent (referral_id, kind, data, created_at)
VALUES (:ref, 'created',
        '{"source": "code", "status": "pending", "risk": {"score": 0.0, "decision": "allow", "reasons": []}}',
        now());
INSERT INTO tracking_event
    (project_id, livemode, public_id, type, participant_id, referral_id, channel, order_id,
     amount, currency, payload, signals, response, occurred_at, created_at)
VALUES
    (:project, false, 'evt_q' || :key, 'signup', :cust, NULL, '', '', NULL, 'RUB',
     jsonb_build_object('type', 'signup', 'customer', jsonb_build_object('external_id', 'pgb-' || :key),
                        'referral_code', 'K7QX2M9A',
                        'context', jsonb_build_object('visitor_id', 'vis-q' || :key)),
     jsonb_build_object('email', encode(sha256(('email-' || :cust)::bytea), 'hex'),
                        'visitor', encode(sha256(('visitor-' || :cust)::bytea), 'hex'),
                        'ip', encode(sha256(('ip-' || :cust)::bytea), 'hex'),
                        'ip_net', encode(sha256(('net-' || :client_id)::bytea), 'hex'),
                        'user_agent', encode(sha256('bench-ua'::bytea), 'hex')),
     '{}', now(), now())
RETURNING id AS evt \gset
-- The referee's signup reward (no order).
\set rw_recipient :cust
\set rw_rule :rule_signup
\set rw_pos :pos_signup
\set rw_amount 300
\set rw_order 0
\else
INSERT INTO tracking_event
    (project_id, livemode, public_id, type, participant_id, referral_id, channel, order_id,
     amount, currency, payload, signals, response, occurred_at, created_at)
VALUES
    (:project, false, 'evt_q' || :key, 'order', :cust, NULL, 'link', 'pgo-' || :key, 4990.00,
     'RUB',
     jsonb_build_object('type', 'order', 'customer', jsonb_build_object('external_id', 'pgb-' || :cust),
                        'order', jsonb_build_object('id', 'pgo-' || :key, 'amount', '4990.00',
                                                    'currency', 'RUB', 'status', 'paid')),
     jsonb_build_object('email', encode(sha256(('email-' || :cust)::bytea), 'hex'),
                        'visitor', encode(sha256(('visitor-' || :cust)::bytea), 'hex'),
                        'ip', encode(sha256(('ip-' || :cust)::bytea), 'hex'),
                        'ip_net', encode(sha256(('net-' || :client_id)::bytea), 'hex'),
                        'user_agent', encode(sha256('bench-ua'::bytea), 'hex')),
     '{}', now(), now())
RETURNING id AS evt \gset
INSERT INTO tracking_order
    (project_id, livemode, order_id, event_id, participant_id, referral_id, amount, currency,
     is_first, status, occurred_at, refunded_at)
VALUES (:project, false, 'pgo-' || :key, :evt, :cust, :ref, 4990.00, 'RUB', true, 'paid', now(), NULL)
RETURNING id AS ord \gset
UPDATE participants_participant SET paid_orders = paid_orders + 1, first_order_at = now()
WHERE id = :cust;
UPDATE referrals_referral SET status = 'qualified', qualified_at = now() WHERE id = :ref;
INSERT INTO referrals_referralevent (referral_id, kind, data, created_at)
VALUES (:ref, 'qualified', '{}', now());
SELECT id FROM participants_participant WHERE id = :rw_referrer FOR NO KEY UPDATE;
-- The referrer's first-order reward.
\set rw_recipient :rw_referrer
\set rw_rule :rule_first
\set rw_pos :pos_first
\set rw_amount 500
\set rw_order :ord
\endif
-- Both: the reward, issued at once with its certificate, its three history steps in one
-- statement, and the reservation of its amount in the campaign's counters.
INSERT INTO rewards_reward
    (project_id, livemode, public_id, campaign_id, rule_id, referral_id, recipient_id, order_id,
     trigger, amount, currency, status, available_at, reason, dedupe_key, brand_id, waiting,
     choose_by, attempts, next_attempt_at, last_error, issued_at, banked_into_id, created_at,
     updated_at)
VALUES
    (:project, false, 'rwd_q' || :key, :campaign, :rw_rule, :ref, :rw_recipient,
     NULLIF(:rw_order, 0), CASE WHEN :rw_order = 0 THEN 'signup' ELSE 'first_order' END,
     :rw_amount, 'RUB', 'issued', now(), '',
     'cmp' || :campaign || ':rule' || :rw_pos || CASE WHEN :rw_order = 0
         THEN ':referee:referral' || :ref || ':signup'
         ELSE ':referrer:order' || :rw_order END,
     NULL, '', NULL, 0, NULL, '', now(), NULL, now(), now())
RETURNING id AS rwd \gset
INSERT INTO rewards_certificate
    (project_id, livemode, public_id, reward_id, kind, code_hash, code_encrypted, pin_encrypted,
     brand, catalog_brand_id, pool_code_id, issuer_id, external_id, amount, balance, currency,
     status, expires_at, reminded_at, created_at)
VALUES
    (:project, false, 'crt_q' || :key, :rwd, 'internal',
     encode(sha256(('SF-Q' || :key)::bytea), 'hex'), repeat('c', 140), repeat('p', 120), 'Bench',
     NULL, NULL, NULL, '', :rw_amount, :rw_amount, 'RUB', 'active', now() + interval '365 days',
     NULL, now());
INSERT INTO rewards_rewardevent (reward_id, from_status, to_status, actor, note, created_at)
VALUES (:rwd, '', 'pending', 'system', 'created', now()),
       (:rwd, 'pending', 'approved', 'system', 'no hold period', now()),
       (:rwd, 'approved', 'issued', 'system', 'certificate crt_q' || :key, now());
UPDATE campaigns_campaign SET spent = spent + :rw_amount, rewards_count = rewards_count + 1
WHERE id = :campaign AND (budget IS NULL OR budget >= spent + :rw_amount)
  AND (max_rewards IS NULL OR max_rewards >= rewards_count + 1);
-- The outbox (events.atomic): the event's announcements in one INSERT, as the services
-- publish them (a signup: referral.created and the reward's created/approved/issued; an
-- order also order.paid and referral.qualified).
INSERT INTO events_outboxevent
    (project_id, livemode, type, payload, created_at, processed_at, handlers, locked_by,
     locked_until)
SELECT :project, false, t.type,
       jsonb_build_object('reward', 'rwd_q' || :key, 'referral', 'ref_q' || :key,
                          'amount', :rw_amount || '.00', 'currency', 'RUB'),
       now(), NULL, '{}', '', NULL
FROM unnest(CASE WHEN :i % 2 = 1
                 THEN ARRAY['referral.created', 'reward.created', 'reward.approved', 'reward.issued']
                 ELSE ARRAY['order.paid', 'referral.qualified', 'reward.created',
                            'reward.approved', 'reward.issued'] END) AS t(type);
-- The event's answer.
\if :i % 2 = 1
UPDATE tracking_event SET referral_id = :ref,
    response = jsonb_build_object(
        'id', 'evt_q' || :key, 'object', 'event', 'type', 'signup', 'livemode', false,
        'occurred_at', now(), 'customer', 'pgb-' || :key,
        'referral', jsonb_build_object('id', 'ref_q' || :key, 'referrer', 'r1',
                                       'referee', 'pgb-' || :key, 'status', 'pending',
                                       'channel', 'link'),
        'rewards', jsonb_build_array(jsonb_build_object(
            'id', 'rwd_q' || :key, 'recipient', 'pgb-' || :key, 'amount', '300.00',
            'currency', 'RUB', 'status', 'issued', 'available_at', now())),
        'fraud', jsonb_build_object('score', 0.0, 'decision', 'allow',
                                    'reasons', jsonb_build_array()))
WHERE id = :evt;
\else
UPDATE tracking_event SET referral_id = :ref,
    response = jsonb_build_object(
        'id', 'evt_q' || :key, 'object', 'event', 'type', 'order', 'livemode', false,
        'occurred_at', now(), 'customer', 'pgb-' || :cust,
        'order', jsonb_build_object('id', 'pgo-' || :key, 'amount', '4990.00',
                                    'currency', 'RUB', 'first', true),
        'referral', jsonb_build_object('id', 'ref_q' || :key, 'referrer', 'r1',
                                       'referee', 'pgb-' || :cust, 'status', 'qualified',
                                       'channel', 'link'),
        'rewards', jsonb_build_array(jsonb_build_object(
            'id', 'rwd_q' || :key, 'recipient', 'r1', 'amount', '500.00',
            'currency', 'RUB', 'status', 'issued', 'available_at', now())),
        'fraud', jsonb_build_object('score', 0.0, 'decision', 'allow',
                                    'reasons', jsonb_build_array()))
WHERE id = :evt;
\endif
COMMIT;
