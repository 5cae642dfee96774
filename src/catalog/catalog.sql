-- The demo metadata catalog served by `mcp-audit serve`: a small company's data
-- estate (datasets with schemas, owners, tags, lineage, glossary terms).
-- Tags `pii` and `phi` mark personal and health data; the audit records of
-- calls that touch `phi` datasets say `phi: true`.

CREATE TABLE entities (
  urn         TEXT PRIMARY KEY,
  type        TEXT NOT NULL,          -- DATASET | DASHBOARD | GLOSSARY_TERM
  name        TEXT NOT NULL,
  platform    TEXT,
  description TEXT NOT NULL,
  owner       TEXT
);
CREATE TABLE fields (
  urn         TEXT NOT NULL REFERENCES entities(urn),
  position    INTEGER NOT NULL,
  name        TEXT NOT NULL,
  type        TEXT NOT NULL,
  description TEXT NOT NULL,
  tag         TEXT,                   -- pii | phi | NULL
  PRIMARY KEY (urn, position)
);
CREATE TABLE tags (
  urn TEXT NOT NULL REFERENCES entities(urn),
  tag TEXT NOT NULL,
  PRIMARY KEY (urn, tag)
);
CREATE TABLE terms (
  urn      TEXT NOT NULL REFERENCES entities(urn),
  term_urn TEXT NOT NULL REFERENCES entities(urn),
  PRIMARY KEY (urn, term_urn)
);
CREATE TABLE lineage (
  upstream   TEXT NOT NULL REFERENCES entities(urn),
  downstream TEXT NOT NULL REFERENCES entities(urn),
  PRIMARY KEY (upstream, downstream)
);

INSERT INTO entities VALUES
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 'DATASET', 'customers', 'postgres',
  'One row per customer account, with contact details. Source of truth for CRM.', 'sales-engineering'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 'DATASET', 'orders', 'postgres',
  'Every order placed through the web shop and the sales team.', 'sales-engineering'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 'DATASET', 'payments', 'postgres',
  'Card and bank payments for orders; card numbers are tokenised.', 'finance-platform'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 'DATASET', 'daily_revenue', 'snowflake',
  'Revenue per day, region and product line, built nightly from orders and payments.', 'analytics'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)', 'DATASET', 'customer_360', 'snowflake',
  'Customer profile joining CRM, orders and support tickets for account managers.', 'analytics'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 'DATASET', 'patients', 'postgres',
  'Patients of the occupational health clinic: identity and contact details.', 'health-services'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 'DATASET', 'encounters', 'postgres',
  'Clinical encounters: visit date, diagnosis codes, attending clinician.', 'health-services'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.prescriptions,PROD)', 'DATASET', 'prescriptions', 'postgres',
  'Medications prescribed at each encounter.', 'health-services'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.health.encounter_summary,PROD)', 'DATASET', 'encounter_summary', 'snowflake',
  'De-identified monthly counts of encounters per diagnosis group.', 'analytics'),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 'DATASET', 'web_clickstream', 's3',
  'Raw page-view and click events from the web shop, partitioned by hour.', 'data-platform'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.marketing.campaign_attribution,PROD)', 'DATASET', 'campaign_attribution', 'snowflake',
  'Orders attributed to marketing campaigns from clickstream sessions.', 'marketing-analytics'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 'DATASET', 'employees', 'postgres',
  'Employee records: role, department, salary band and manager.', 'people-ops'),
 ('urn:li:dashboard:(looker,revenue_overview)', 'DASHBOARD', 'Revenue overview', 'looker',
  'Executive dashboard of daily revenue by region.', 'analytics'),
 ('urn:li:dashboard:(looker,clinic_operations)', 'DASHBOARD', 'Clinic operations', 'looker',
  'Encounter volumes and waiting times for clinic managers.', 'health-services'),
 ('urn:li:glossaryTerm:PersonalData', 'GLOSSARY_TERM', 'Personal data', NULL,
  'Any information relating to an identified or identifiable natural person (GDPR Art. 4).', 'privacy-office'),
 ('urn:li:glossaryTerm:ProtectedHealthInformation', 'GLOSSARY_TERM', 'Protected health information', NULL,
  'Individually identifiable health information held by a covered entity (HIPAA).', 'privacy-office'),
 ('urn:li:glossaryTerm:Revenue', 'GLOSSARY_TERM', 'Revenue', NULL,
  'Income from orders net of refunds, recognised on the payment date.', 'finance-platform'),
 ('urn:li:glossaryTerm:CardholderData', 'GLOSSARY_TERM', 'Cardholder data', NULL,
  'Primary account number and related data protected under PCI DSS.', 'finance-platform');

INSERT INTO fields VALUES
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 1, 'customer_id', 'BIGINT', 'Surrogate key.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 2, 'full_name', 'TEXT', 'Name of the account holder.', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 3, 'email', 'TEXT', 'Contact e-mail address.', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 4, 'country', 'CHAR(2)', 'ISO 3166 country code.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 5, 'created_at', 'TIMESTAMP', 'When the account was opened.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 1, 'order_id', 'BIGINT', 'Surrogate key.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 2, 'customer_id', 'BIGINT', 'The customer who ordered.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 3, 'amount', 'NUMERIC(12,2)', 'Order total in EUR.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 4, 'ordered_at', 'TIMESTAMP', 'When the order was placed.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 1, 'payment_id', 'BIGINT', 'Surrogate key.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 2, 'order_id', 'BIGINT', 'The order paid.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 3, 'card_token', 'TEXT', 'Token of the card number (no PAN stored).', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 4, 'amount', 'NUMERIC(12,2)', 'Amount captured.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 1, 'day', 'DATE', 'Calendar day (UTC).', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 2, 'region', 'TEXT', 'Sales region.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 3, 'revenue', 'NUMERIC(14,2)', 'Revenue in EUR.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)', 1, 'customer_id', 'BIGINT', 'Customer key.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)', 2, 'email', 'TEXT', 'Contact e-mail address.', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)', 3, 'lifetime_value', 'NUMERIC(14,2)', 'Sum of paid orders.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 1, 'patient_id', 'BIGINT', 'Medical record number.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 2, 'full_name', 'TEXT', 'Patient name.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 3, 'date_of_birth', 'DATE', 'Date of birth.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 4, 'phone', 'TEXT', 'Contact phone number.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 1, 'encounter_id', 'BIGINT', 'Surrogate key.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 2, 'patient_id', 'BIGINT', 'The patient seen.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 3, 'diagnosis_code', 'TEXT', 'ICD-10 code.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 4, 'visited_at', 'TIMESTAMP', 'Start of the visit.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.prescriptions,PROD)', 1, 'encounter_id', 'BIGINT', 'The encounter.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.prescriptions,PROD)', 2, 'medication', 'TEXT', 'Medication name and dose.', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.health.encounter_summary,PROD)', 1, 'month', 'DATE', 'First day of the month.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.health.encounter_summary,PROD)', 2, 'diagnosis_group', 'TEXT', 'ICD-10 chapter.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.health.encounter_summary,PROD)', 3, 'encounters', 'INTEGER', 'Number of encounters (cells under 11 suppressed).', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 1, 'event_time', 'TIMESTAMP', 'When the event happened.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 2, 'session_id', 'TEXT', 'Browser session.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 3, 'ip_address', 'TEXT', 'Client IP address.', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 4, 'url', 'TEXT', 'Page visited.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.marketing.campaign_attribution,PROD)', 1, 'order_id', 'BIGINT', 'The attributed order.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.marketing.campaign_attribution,PROD)', 2, 'campaign', 'TEXT', 'Campaign identifier.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 1, 'employee_id', 'BIGINT', 'Surrogate key.', NULL),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 2, 'full_name', 'TEXT', 'Employee name.', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 3, 'salary_band', 'TEXT', 'Pay band.', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 4, 'manager_id', 'BIGINT', 'Line manager.', NULL);

INSERT INTO tags VALUES
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 'gold'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 'gold'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 'pci'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 'finance'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 'finance'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 'gold'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.prescriptions,PROD)', 'phi'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.health.encounter_summary,PROD)', 'deidentified'),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 'raw'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.marketing.campaign_attribution,PROD)', 'marketing'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 'pii'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 'confidential'),
 ('urn:li:dashboard:(looker,revenue_overview)', 'finance'),
 ('urn:li:dashboard:(looker,clinic_operations)', 'phi');

INSERT INTO terms VALUES
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 'urn:li:glossaryTerm:PersonalData'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 'urn:li:glossaryTerm:CardholderData'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 'urn:li:glossaryTerm:Revenue'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)', 'urn:li:glossaryTerm:PersonalData'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 'urn:li:glossaryTerm:ProtectedHealthInformation'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 'urn:li:glossaryTerm:ProtectedHealthInformation'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.prescriptions,PROD)', 'urn:li:glossaryTerm:ProtectedHealthInformation'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,hr.public.employees,PROD)', 'urn:li:glossaryTerm:PersonalData');

INSERT INTO lineage VALUES
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.customers,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.customer_360,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)', 'urn:li:dashboard:(looker,revenue_overview)'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.prescriptions,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.encounters,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.health.encounter_summary,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.health.encounter_summary,PROD)', 'urn:li:dashboard:(looker,clinic_operations)'),
 ('urn:li:dataset:(urn:li:dataPlatform:s3,raw-events/web_clickstream,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.marketing.campaign_attribution,PROD)'),
 ('urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)', 'urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.marketing.campaign_attribution,PROD)');
