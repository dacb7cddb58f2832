#!/usr/bin/env python3
"""Benchmark peer: the default leadq model (examples/default-model.toml)
computed in DuckDB SQL, straight from the raw leads.csv and events.csv of
`leadq demo generate`.

Everything is SQL run inside DuckDB (read_csv, CTEs, window functions);
Python only assembles the statement and hands it to DuckDB. The output is a
CSV with lead_id,fit,engagement,score,grade,band,priority,mql,sql,rank.

What is reproduced from leadq:
  * missing placeholders ('', n/a, na, #n/a, null, nil, -, --, select,
    (blank), case-insensitive, trimmed) and folding of categorical values;
  * employees and total_visits parsed like leadq's parse_number (plain,
    1,234 / 1.234,5, ranges 51-200 as midpoint, 10,000+, 5k / 1.5M);
  * seniority and department from the job title with leadq's keywords,
    region from the country via the shipped countries.tsv, email kind from
    the shipped free-mail and disposable domain lists;
  * BANT status from the bant.* answer columns;
  * events: only kinds the model listens to, only known leads, repeated
    deliveries (same event_id for the same lead) counted once (the first in
    file order), events after --as-of ignored, half-life decay, windowed caps
    that keep the newest events, the file aggregate on total_visits;
  * fit / engagement floors at 0, grades, bands, priority, MQL, SQL and the
    default priority order for the rank.

What is deliberately not reproduced: leadq also rejects invalid rows (bad
email, phone, employees, BANT answer) and merges duplicate leads (same id,
email, phone or a near-identical name at one company). This peer keeps every
row that has a lead id (invalid values are treated as missing) and does not
merge; bench/compare.py joins on lead_id and reports such leads separately.
Columns are matched by the names `leadq demo generate` writes, events are
matched to leads by lead id (leadq also accepts an email there), and event
timestamps must be ISO 8601 (leadq also reads a few other date formats).
"""

import argparse
import os
import sys
import time

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REFDATA = os.path.normpath(
    os.path.join(HERE, "..", "..", "crates", "leadq-ingest", "data")
)


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def fill(sql: str, **values: str) -> str:
    """Replaces the __NAME__ placeholders of a statement."""
    for k, v in values.items():
        sql = sql.replace(f"__{k}__", v)
    return sql


MACROS = r"""
-- leadq's missing-value placeholders: the trimmed value, or NULL.
CREATE OR REPLACE TEMP MACRO clean(x) AS
    CASE WHEN lower(trim(x)) IN ('', 'n/a', 'na', '#n/a', 'null', 'nil', '-', '--', 'select', '(blank)')
         THEN NULL ELSE trim(x) END;

-- Categorical folding: lower case, inner whitespace collapsed.
CREATE OR REPLACE TEMP MACRO fold(x) AS lower(regexp_replace(x, '\s+', ' ', 'g'));

-- x when finite, else NULL.
CREATE OR REPLACE TEMP MACRO finite(x) AS CASE WHEN isfinite(x) THEN x END;

-- Thousands separators versus a decimal comma (leadq's normalise_separators).
CREATE OR REPLACE TEMP MACRO num_sep(b) AS
    CASE
        WHEN NOT contains(b, ',') THEN b
        WHEN NOT contains(b, '.')
             AND (length(b) - length(replace(b, ',', '')) > 1 OR length(regexp_extract(b, '[^,]*$')) = 3)
            THEN replace(b, ',', '')
        WHEN NOT contains(b, '.') THEN replace(b, ',', '.')
        WHEN regexp_matches(b, ',[^.]*$') THEN replace(replace(b, '.', ''), ',', '.')
        ELSE replace(b, ',', '')
    END;

-- A framework answer: lower case, spaces and dashes as '_', one of the options.
CREATE OR REPLACE TEMP MACRO answer(x, options) AS
    CASE WHEN list_contains(options, replace(replace(lower(x), ' ', '_'), '-', '_'))
         THEN replace(replace(lower(x), ' ', '_'), '-', '_') END;

-- leadq's fold_country: lower case, common accents removed, letters and digits only.
CREATE OR REPLACE TEMP MACRO fold_country(x) AS
    regexp_replace(translate(lower(x), 'áàâäãåéèêëíìîïóòôöõøúùûüçñ',
                                       'aaaaaaeeeeiiiioooooouuuucn'),
                   '[^\p{L}\p{N}]', '', 'g');

-- An email address leadq accepts (already lower-cased), or NULL.
CREATE OR REPLACE TEMP MACRO valid_email(e) AS
    CASE WHEN strlen(e) <= 254
          AND regexp_full_match(e,
                '[\p{L}\p{N}!#$%&''*+/=?^_`{|}~.\-]+@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)+')
          AND strlen(split_part(e, '@', 1)) <= 64
          AND NOT regexp_matches(e, '^\.|\.@|\.\.[^@]*@')
         THEN e END;
"""

LEADS_SQL = r"""
CREATE OR REPLACE TEMP TABLE leads AS
WITH raw AS (
    SELECT
        ordinality AS rn,
        clean(lead_id) AS lead_id,
        valid_email(lower(trim(trim(clean(email)), '<>'))) AS email,
        clean(phone) AS phone,
        clean(job_title) AS title,
        fold(clean(industry)) AS industry,
        clean(employees) AS employees_raw,
        clean(country) AS country_raw,
        fold(clean(lead_source)) AS source,
        clean(total_visits) AS total_visits_raw,
        answer(clean("bant.budget"), ['confirmed', 'planned', 'none']) AS budget,
        answer(clean("bant.authority"), ['decision_maker', 'influencer', 'user', 'none']) AS authority,
        answer(clean("bant.need"), ['critical', 'important', 'nice_to_have', 'none']) AS need,
        answer(clean("bant.timeline"), ['within_3_months', 'within_6_months', 'within_12_months', 'later', 'none']) AS timeline
    FROM read_csv(__LEADS__, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')
         WITH ORDINALITY
),
-- Reference data shipped with leadq.
country_rows AS (
    SELECT ordinality AS line, trim(code) AS code, trim(region) AS region, names
    FROM read_csv(__COUNTRIES__, header = false, delim = '\t', quote = '', all_varchar = true,
                  columns = {'code': 'VARCHAR', 'region': 'VARCHAR', 'names': 'VARCHAR'})
         WITH ORDINALITY
    WHERE code IS NOT NULL AND region IS NOT NULL AND names IS NOT NULL
),
country_alias AS (
    -- A later line wins when two countries share an alias, as in leadq.
    SELECT fold_country(alias) AS key, arg_max(code, line) AS code
    FROM (SELECT line, code, unnest(list_prepend(code, string_split(names, '|'))) AS alias FROM country_rows)
    GROUP BY ALL
),
free_mail AS (
    SELECT DISTINCT trim(d) AS d
    FROM read_csv(__FREE__, header = false, delim = '\t', quote = '', all_varchar = true, columns = {'d': 'VARCHAR'})
    WHERE trim(d) <> '' AND NOT starts_with(trim(d), '#')
),
disposable AS (
    SELECT DISTINCT trim(d) AS d
    FROM read_csv(__DISPOSABLE__, header = false, delim = '\t', quote = '', all_varchar = true, columns = {'d': 'VARCHAR'})
    WHERE trim(d) <> '' AND NOT starts_with(trim(d), '#')
),
-- Per distinct value: countries, email domains, titles, numbers.
countries AS (
    SELECT c.country_raw, a.code AS country, r.region
    FROM (SELECT DISTINCT country_raw FROM raw WHERE country_raw IS NOT NULL) c
    JOIN country_alias a ON a.key = fold_country(c.country_raw)
    JOIN country_rows r ON r.code = a.code
),
domains AS (
    SELECT DISTINCT split_part(email, '@', 2) AS domain FROM raw WHERE email IS NOT NULL
),
domain_candidates AS (
    -- The domain and each parent that still has a dot (mail.yahoo.co.uk -> yahoo.co.uk, co.uk).
    SELECT domain, unnest(list_prepend(domain,
               [array_to_string(labels[i:], '.') FOR i IN range(2, len(labels))])) AS candidate
    FROM (SELECT domain, string_split(domain, '.') AS labels FROM domains)
),
email_kinds AS (
    SELECT domain,
           CASE WHEN bool_or(candidate IN (SELECT d FROM disposable)) THEN 'disposable'
                WHEN bool_or(candidate IN (SELECT d FROM free_mail)) THEN 'free'
                ELSE 'business' END AS email_kind
    FROM domain_candidates
    GROUP BY domain
),
title_words AS (
    SELECT title, ws, ' ' || array_to_string(ws, ' ') || ' ' AS txt,
           CASE WHEN list_contains(ws, 'vice') THEN list_filter(ws, lambda w: w NOT IN ('president', 'vice')) ELSE ws END AS dws
    FROM (
        SELECT title, list_filter(regexp_split_to_array(fold(title), '[^\p{L}\p{N}&]+'), lambda w: w <> '') AS ws
        FROM (SELECT DISTINCT title FROM raw WHERE title IS NOT NULL)
    )
),
title_flags AS (
    SELECT *,
           ' ' || array_to_string(dws, ' ') || ' ' AS dtxt,
           list_has_any(ws, ['vp', 'svp', 'evp', 'avp'])
               OR contains(txt, ' vice president ') OR contains(txt, ' head of ') AS is_vp
    FROM title_words
),
titles AS (
    SELECT title,
        CASE
            WHEN len(ws) = 0 THEN NULL
            WHEN NOT is_vp AND (
                list_has_any(ws, ['ceo', 'cto', 'cfo', 'coo', 'cmo', 'cio', 'ciso', 'cro', 'cpo', 'cdo', 'chief',
                                  'founder', 'cofounder', 'owner', 'president', 'partner', 'proprietor'])
                OR contains(txt, 'co founder') OR contains(txt, ' managing director ')) THEN 'c_level'
            WHEN is_vp THEN 'vp'
            WHEN list_has_any(ws, ['director', 'directeur', 'direktor']) THEN 'director'
            WHEN list_has_any(ws, ['manager', 'supervisor', 'gerente', 'leiter', 'superintendent'])
                 OR contains(txt, ' team lead ') THEN 'manager'
            WHEN list_has_any(ws, ['intern', 'trainee', 'student', 'apprentice', 'werkstudent']) THEN 'intern'
            WHEN list_has_any(ws, ['senior', 'sr', 'principal', 'staff', 'lead']) THEN 'senior'
            ELSE 'individual'
        END AS seniority,
        CASE
            WHEN list_has_any(dws, ['ceo', 'founder', 'cofounder', 'president', 'owner'])
                 OR contains(dtxt, ' co founder ') OR contains(dtxt, ' managing director ')
                 OR contains(dtxt, ' general manager ') THEN 'executive'
            WHEN list_has_any(dws, ['cio', 'ciso', 'it', 'sysadmin', 'infrastructure', 'security', 'network', 'helpdesk'])
                 OR contains(dtxt, ' information technology ') THEN 'it'
            WHEN list_has_any(dws, ['cto', 'engineer', 'engineering', 'developer', 'software', 'devops', 'architect',
                                    'programmer', 'sre', 'r&d']) THEN 'engineering'
            WHEN list_has_any(dws, ['data', 'analytics', 'analyst', 'bi', 'scientist']) THEN 'data'
            WHEN list_has_any(dws, ['cro', 'sales', 'ae', 'sdr', 'bdr', 'revenue'])
                 OR contains(dtxt, ' account executive ') OR contains(dtxt, ' business development ')
                 OR contains(dtxt, ' account manager ') THEN 'sales'
            WHEN list_has_any(dws, ['cmo', 'marketing', 'growth', 'brand', 'content', 'seo', 'communications', 'pr'])
                 OR contains(dtxt, ' demand generation ') OR contains(dtxt, ' demand gen ') THEN 'marketing'
            WHEN list_has_any(dws, ['cfo', 'finance', 'financial', 'accounting', 'accountant', 'controller',
                                    'treasurer', 'fp&a']) THEN 'finance'
            WHEN list_has_any(dws, ['hr', 'people', 'talent', 'recruiter', 'recruiting', 'chro'])
                 OR contains(dtxt, ' human resources ') THEN 'hr'
            WHEN list_has_any(dws, ['coo', 'operations', 'ops', 'logistics', 'procurement', 'purchasing'])
                 OR contains(dtxt, ' supply chain ') THEN 'operations'
            WHEN list_has_any(dws, ['cpo', 'product']) THEN 'product'
            WHEN list_has_any(dws, ['legal', 'counsel', 'lawyer', 'attorney', 'compliance']) THEN 'legal'
            WHEN list_has_any(dws, ['support', 'service', 'customer'])
                 OR contains(dtxt, ' customer success ') THEN 'support'
            WHEN list_has_any(dws, ['teacher', 'professor', 'lecturer', 'principal', 'tutor']) THEN 'education'
        END AS department
    FROM title_flags
),
-- Numbers as leadq's parse_number reads them: plain; else without currency
-- signs, +, %, spaces, _ and '; a range 51-200 gives its midpoint; a k / m / b
-- suffix scales; thousands separators versus a decimal comma.
number_text AS (
    SELECT v, TRY_CAST(v AS DOUBLE) AS direct,
           regexp_replace(v, '[$€£¥+% \x{a0}_'']', '', 'g') AS stripped
    FROM (SELECT employees_raw AS v FROM raw UNION SELECT total_visits_raw FROM raw)
    WHERE v IS NOT NULL
),
number_pieces AS (
    SELECT v, direct, lower(piece) AS piece
    FROM (
        SELECT v, direct,
               unnest(CASE WHEN direct IS NULL AND regexp_matches(stripped, '^[^\-–]+[\-–]')
                           THEN [regexp_extract(stripped, '^([^\-–]+)[\-–](.*)$', 1),
                                 regexp_extract(stripped, '^([^\-–]+)[\-–](.*)$', 2)]
                           ELSE [stripped] END) AS piece
        FROM number_text
    )
),
number_values AS (
    SELECT v, direct,
           finite(TRY_CAST(num_sep(CASE WHEN right(piece, 1) IN ('k', 'm', 'b') THEN left(piece, length(piece) - 1)
                                        ELSE piece END) AS DOUBLE)
                  * CASE right(piece, 1) WHEN 'k' THEN 1e3 WHEN 'm' THEN 1e6 WHEN 'b' THEN 1e9 ELSE 1 END) AS value
    FROM number_pieces
),
numbers AS (
    SELECT v,
           CASE WHEN any_value(direct) IS NOT NULL THEN finite(any_value(direct))
                WHEN count(value) = count(*) THEN sum(value) / count(*) END AS n
    FROM number_values
    GROUP BY v
),
identified AS (
    -- A lead is identified by its id, else by its email; the first row of an id wins.
    SELECT *, coalesce(lead_id, email) AS id
    FROM raw
    WHERE coalesce(lead_id, email) IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY coalesce(lead_id, email) ORDER BY rn) = 1
)
SELECT
    r.rn, r.id AS lead_id, r.email,
    r.phone, r.industry, r.source,
    CASE WHEN ne.n >= 0 THEN ne.n END AS employees,
    nv.n AS total_visits,
    c.country, c.region,
    ek.email_kind,
    t.seniority, t.department,
    r.budget,
    CASE
        WHEN 'none' IN (r.budget, r.authority, r.need, r.timeline) THEN 'disqualified'
        WHEN r.budget IN ('confirmed', 'planned') AND r.authority IN ('decision_maker', 'influencer')
             AND r.need IN ('critical', 'important') AND r.timeline IN ('within_3_months', 'within_6_months')
            THEN 'qualified'
        ELSE 'not_yet'
    END AS bant_status
FROM identified r
LEFT JOIN numbers ne ON ne.v = r.employees_raw
LEFT JOIN numbers nv ON nv.v = r.total_visits_raw
LEFT JOIN countries c ON c.country_raw = r.country_raw
LEFT JOIN email_kinds ek ON ek.domain = split_part(r.email, '@', 2)
LEFT JOIN titles t ON t.title = r.title
"""

# The engagement rules of the model: event kind, url conditions (the url must
# start with one of `url_any` when given, and with none of `url_none`),
# points, half-life, cap and cap window (days).
SCORE_SQL = r"""
COPY (
WITH
rules(rule_id, kind, url_any, url_none, points, half_life, cap, cap_window) AS (
    VALUES
    ( 1, 'page_view',          NULL, ['/pricing', '/careers'], 1.0, 14.0, 8.0, 7.0),
    ( 2, 'page_view',          ['/pricing'], NULL,              8.0, 14.0, 24.0, 7.0),
    ( 3, 'page_view',          ['/docs', '/compare'], NULL,     3.0, 21.0, 12.0, 7.0),
    ( 4, 'page_view',          ['/customers'], NULL,            3.0, 21.0, NULL, NULL),
    ( 5, 'page_view',          ['/careers'], NULL,             -5.0, 30.0, NULL, NULL),
    ( 6, 'email_open',         NULL, NULL,                      1.0,  7.0, 5.0, 7.0),
    ( 7, 'email_click',        NULL, NULL,                      3.0, 14.0, 12.0, 7.0),
    ( 8, 'email_reply',        NULL, NULL,                     10.0, 30.0, NULL, NULL),
    ( 9, 'email_bounce',       NULL, NULL,                    -10.0, NULL, NULL, NULL),
    (10, 'email_unsubscribe',  NULL, NULL,                    -20.0, NULL, NULL, NULL),
    (11, 'form_submit',        NULL, NULL,                     10.0, 30.0, NULL, NULL),
    (12, 'content_download',   NULL, NULL,                      6.0, 30.0, 18.0, 30.0),
    (13, 'webinar_registered', NULL, NULL,                      4.0, 30.0, NULL, NULL),
    (14, 'webinar_attended',   NULL, NULL,                     10.0, 45.0, NULL, NULL),
    (15, 'chat_started',       NULL, NULL,                      5.0, 14.0, NULL, NULL),
    (16, 'demo_request',       NULL, NULL,                     30.0, 30.0, NULL, NULL),
    (17, 'trial_signup',       NULL, NULL,                     25.0, 45.0, NULL, NULL),
    (18, 'meeting_booked',     NULL, NULL,                     20.0, 30.0, NULL, NULL)
),
raw_events AS (
    SELECT ordinality AS rn, event_id, lead_id AS lead_ref, "type" AS type_raw, "timestamp" AS ts_raw, url
    FROM read_csv(__EVENTS__, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"')
         WITH ORDINALITY
),
event_kinds AS (
    -- Kind names as leadq reads them: exact, else folded to snake_case.
    SELECT type_raw, kind
    FROM (
        SELECT type_raw,
               CASE WHEN trim(type_raw) IN (SELECT kind FROM rules) THEN trim(type_raw)
                    WHEN regexp_full_match(replace(replace(replace(lower(trim(type_raw)), ' ', '_'), '-', '_'), '.', '_'), '[a-z0-9_]+')
                        THEN replace(replace(replace(replace(lower(trim(type_raw)), ' ', '_'), '-', '_'), '.', '_'),
                                     'pageview', 'page_view')
               END AS kind
        FROM (SELECT DISTINCT type_raw FROM raw_events)
    )
    WHERE kind IN (SELECT kind FROM rules)
),
events AS (
    -- Known leads, kinds the model reads, valid timestamps; a repeated
    -- delivery (same event_id, or the same record when it has none) of
    -- one lead counts once: the first in file order.
    SELECT DISTINCT ON (l.rn, e.dedupe_key) l.rn AS lead_rn, k.kind, e.url, e.ts
    FROM (
        SELECT rn, type_raw, trim(lead_ref) AS lead_ref, trim(url) AS url,
               CAST(floor(epoch(TRY_CAST(trim(ts_raw) AS TIMESTAMPTZ))) AS BIGINT) AS ts,
               coalesce(nullif(trim(event_id), ''),
                        concat_ws(chr(31), event_id, lead_ref, type_raw, ts_raw, url)) AS dedupe_key
        FROM raw_events
    ) e
    JOIN event_kinds k ON k.type_raw = e.type_raw
    JOIN leads l ON l.lead_id = e.lead_ref
    WHERE e.ts IS NOT NULL
    ORDER BY l.rn, e.dedupe_key, e.rn
),
url_rules AS (
    -- The rules each distinct (kind, url) of the events feeds.
    SELECT u.kind, u.url, r.rule_id, r.points, r.half_life, r.cap, r.cap_window
    FROM (SELECT DISTINCT kind, url FROM events) u
    JOIN rules r ON r.kind = u.kind
    WHERE (r.url_any IS NULL OR coalesce(list_bool_or([starts_with(u.url, p) FOR p IN r.url_any]), false))
      AND (r.url_none IS NULL OR NOT coalesce(list_bool_or([starts_with(u.url, p) FOR p IN r.url_none]), false))
),
hits AS (
    SELECT ev.lead_rn, ev.ts, ur.rule_id, ur.points, ur.half_life, ur.cap, ur.cap_window,
           (__AS_OF__ - ev.ts) / 86400.0 AS age
    FROM events ev
    JOIN url_rules ur ON ur.kind = ev.kind AND ur.url IS NOT DISTINCT FROM ev.url
    WHERE ev.ts <= __AS_OF__
),
counted AS (
    -- Uncapped rules: every event counts its points.
    SELECT lead_rn, points AS raw, age, half_life FROM hits WHERE cap IS NULL
    UNION ALL
    -- Capped rules: newest first within each cap window, an event counts
    -- what is left of the cap.
    SELECT lead_rn,
           sign(points) * (least(k * abs(points), cap) - least((k - 1) * abs(points), cap)) AS raw,
           age, half_life
    FROM (
        SELECT *, row_number() OVER (
                      PARTITION BY lead_rn, rule_id,
                                   CASE WHEN cap_window IS NULL THEN 0 ELSE floor(age / cap_window) END
                      ORDER BY ts DESC) AS k
        FROM hits WHERE cap IS NOT NULL
    )
),
engagement_events AS (
    SELECT lead_rn,
           sum(raw * CASE WHEN half_life IS NOT NULL AND age > 0
                          THEN exp(-(age / half_life) * 0.6931471805599453) ELSE 1.0 END) AS points
    FROM counted
    GROUP BY lead_rn
),
scored AS (
    SELECT l.lead_id, l.bant_status,
        greatest(0.0,
              CASE WHEN l.employees >= 1000 THEN 20 ELSE 0 END
            + CASE WHEN l.employees >= 200 AND l.employees < 1000 THEN 15 ELSE 0 END
            + CASE WHEN l.employees >= 50 AND l.employees < 200 THEN 8 ELSE 0 END
            + CASE WHEN l.employees < 10 THEN -10 ELSE 0 END
            + CASE WHEN l.industry IN ('software', 'fintech') THEN 15 ELSE 0 END
            + CASE WHEN l.industry IN ('financial services', 'healthcare', 'manufacturing', 'logistics') THEN 8 ELSE 0 END
            + CASE WHEN l.industry IN ('education', 'government', 'non-profit') THEN -8 ELSE 0 END
            + CASE WHEN l.seniority = 'c_level' THEN 15 ELSE 0 END
            + CASE WHEN l.seniority = 'vp' THEN 12 ELSE 0 END
            + CASE WHEN l.seniority = 'director' THEN 10 ELSE 0 END
            + CASE WHEN l.seniority = 'manager' THEN 5 ELSE 0 END
            + CASE WHEN l.seniority = 'intern' THEN -10 ELSE 0 END
            + CASE WHEN l.department IN ('engineering', 'it', 'data') THEN 6 ELSE 0 END
            + CASE WHEN l.region = 'NA' THEN 8 ELSE 0 END
            + CASE WHEN l.region = 'EMEA' AND l.country IN ('GB', 'DE', 'FR', 'NL', 'ES') THEN 6 ELSE 0 END
            + CASE WHEN l.email_kind = 'business' THEN 8 ELSE 0 END
            + CASE WHEN l.email_kind = 'free' THEN -5 ELSE 0 END
            + CASE WHEN l.email_kind = 'disposable' THEN -25 ELSE 0 END
            + CASE WHEN l.phone IS NOT NULL THEN 3 ELSE 0 END
            + CASE WHEN l.source IN ('referral', 'partner') THEN 6 ELSE 0 END
            + CASE WHEN l.source = 'paid social' THEN -2 ELSE 0 END
            + CASE WHEN l.budget = 'confirmed' THEN 5 ELSE 0 END
        ) AS fit,
        greatest(0.0,
              coalesce(e.points, 0.0)
            -- The file aggregate: many visits.
            + CASE WHEN l.total_visits >= 10 THEN 5 ELSE 0 END
        ) AS engagement
    FROM leads l
    LEFT JOIN engagement_events e ON e.lead_rn = l.rn
),
graded AS (
    SELECT *,
        fit + engagement AS score,
        CASE WHEN fit >= 60 THEN 'A' WHEN fit >= 40 THEN 'B' WHEN fit >= 20 THEN 'C' ELSE 'D' END AS grade,
        CASE WHEN engagement >= 40 THEN 1 WHEN engagement >= 20 THEN 2 WHEN engagement >= 8 THEN 3 ELSE 4 END AS band
    FROM scored
),
priority_order AS (
    -- Better grade and hotter band first; ties on the sum go to the grade.
    SELECT chr(CAST(65 + g AS INTEGER)) || CAST(b + 1 AS VARCHAR) AS priority,
           row_number() OVER (ORDER BY g + b, g) AS prank
    FROM range(4) AS gs(g), range(4) AS bs(b)
),
qualified AS (
    SELECT g.*, g.grade || CAST(g.band AS VARCHAR) AS priority,
        (g.bant_status = 'qualified' AND g.grade <> 'D') AS is_sql,
        (g.grade IN ('A', 'B') AND g.band <= 2) OR (g.grade = 'A' AND g.band = 3)
            OR g.bant_status = 'qualified' AS is_mql
    FROM graded g
)
SELECT q.lead_id,
       round(q.fit, 2) AS fit, round(q.engagement, 2) AS engagement, round(q.score, 2) AS score,
       q.grade, q.band, q.priority,
       q.is_mql OR q.is_sql AS mql, q.is_sql AS sql,
       row_number() OVER (ORDER BY p.prank, q.score DESC, q.lead_id) AS rank
FROM qualified q
JOIN priority_order p USING (priority)
ORDER BY rank
) TO __OUT__ (HEADER, DELIMITER ',');
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("leads", help="leads.csv")
    ap.add_argument("--events", required=True, help="events.csv")
    ap.add_argument("--as-of", required=True, help="scoring instant, e.g. 2026-11-01T00:00:00Z")
    ap.add_argument("--out", required=True, help="output CSV")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 8GB")
    ap.add_argument("--refdata", default=DEFAULT_REFDATA, help="leadq's reference data folder")
    args = ap.parse_args()

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = {sql_str(args.memory_limit)}")
    as_of = con.execute(
        "SELECT CAST(epoch(CAST(? AS TIMESTAMPTZ)) AS BIGINT)", [args.as_of]
    ).fetchone()[0]
    con.execute(MACROS)
    con.execute(
        fill(
            LEADS_SQL,
            LEADS=sql_str(args.leads),
            COUNTRIES=sql_str(os.path.join(args.refdata, "countries.tsv")),
            FREE=sql_str(os.path.join(args.refdata, "free_email_domains.txt")),
            DISPOSABLE=sql_str(os.path.join(args.refdata, "disposable_email_domains.txt")),
        )
    )
    t_leads = time.perf_counter()
    con.execute(
        fill(SCORE_SQL, EVENTS=sql_str(args.events), AS_OF=str(int(as_of)), OUT=sql_str(args.out))
    )
    n = con.execute("SELECT count(*) FROM leads").fetchone()[0]
    done = time.perf_counter()
    print(
        f"duckdb {duckdb.__version__}: {n} leads scored in {done - started:.2f}s "
        f"(leads {t_leads - started:.2f}s, events+score+write {done - t_leads:.2f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
