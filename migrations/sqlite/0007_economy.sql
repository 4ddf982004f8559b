-- The economy (asobi-services::economy, ::tournaments, ::notifications). Unix ms timestamps;
-- booleans as 0/1. Balances and stacks carry CHECKs as a last line: the services never let
-- them go negative, the database refuses it if they ever tried.

CREATE TABLE wallets (
    id          TEXT PRIMARY KEY,
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    currency    TEXT NOT NULL,
    balance     BIGINT NOT NULL CHECK (balance >= 0),
    inserted_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (player_id, currency)
);

-- The ledger: one row per balance change, written in the transaction that changes it.
CREATE TABLE wallet_transactions (
    id             TEXT PRIMARY KEY,
    wallet_id      TEXT NOT NULL REFERENCES wallets (id) ON DELETE CASCADE,
    amount         BIGINT NOT NULL,
    balance_after  BIGINT NOT NULL CHECK (balance_after >= 0),
    reason         TEXT NOT NULL,
    reference_type TEXT,
    reference_id   TEXT,
    metadata       TEXT NOT NULL,
    inserted_at    BIGINT NOT NULL
);
CREATE INDEX wallet_transactions_wallet ON wallet_transactions (wallet_id, inserted_at);

-- Idempotency keys: the first request with a key stores its result; a retry returns it.
CREATE TABLE economy_requests (
    player_id       TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    operation       TEXT NOT NULL,
    result          TEXT NOT NULL,
    inserted_at     BIGINT NOT NULL,
    PRIMARY KEY (player_id, idempotency_key)
);

-- source: 'game' rows follow the game's declarations (re-synced at start and reload);
-- 'operator' rows were written through the ops API and are left alone by the sync.
CREATE TABLE item_definitions (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    stackable   BIGINT NOT NULL,
    max_stack   BIGINT NOT NULL,
    metadata    TEXT NOT NULL,
    source      TEXT NOT NULL,
    inserted_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE store_listings (
    id          TEXT PRIMARY KEY,
    item_def_id TEXT NOT NULL REFERENCES item_definitions (id),
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    currency    TEXT NOT NULL,
    price       BIGINT NOT NULL CHECK (price >= 0),
    active      BIGINT NOT NULL,
    valid_from  BIGINT,
    valid_until BIGINT,
    metadata    TEXT NOT NULL,
    source      TEXT NOT NULL,
    inserted_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- stack_key: the definition id for a stackable item (one row per player), the row's own id
-- for a unique one (a row per copy).
CREATE TABLE player_items (
    id          TEXT PRIMARY KEY,
    item_def_id TEXT NOT NULL REFERENCES item_definitions (id),
    player_id   TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    stack_key   TEXT NOT NULL,
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    metadata    TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (player_id, stack_key)
);
CREATE INDEX player_items_player ON player_items (player_id, acquired_at);

-- Store transactions claimed once. player_id goes NULL when the player is erased, so the
-- transaction stays claimed.
CREATE TABLE iap_transactions (
    store          TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    player_id      TEXT REFERENCES players (id) ON DELETE SET NULL,
    product_id     TEXT NOT NULL,
    receipt        TEXT NOT NULL,
    inserted_at    BIGINT NOT NULL,
    PRIMARY KEY (store, transaction_id)
);

-- One row per occurrence of a declared tournament. status: 'scheduled' until its payout
-- is fixed ('paying'), then 'completed' once every payout row is paid.
CREATE TABLE tournaments (
    id             TEXT PRIMARY KEY,
    definition_id  TEXT NOT NULL,
    name           TEXT NOT NULL,
    leaderboard_id TEXT NOT NULL,
    max_entries    BIGINT NOT NULL,
    entry_fee      BIGINT NOT NULL,
    entry_currency TEXT NOT NULL,
    rewards        TEXT NOT NULL,
    status         TEXT NOT NULL,
    start_at       BIGINT NOT NULL,
    end_at         BIGINT NOT NULL,
    metadata       TEXT NOT NULL,
    inserted_at    BIGINT NOT NULL,
    UNIQUE (definition_id, start_at)
);
CREATE INDEX tournaments_status ON tournaments (status, end_at);

CREATE TABLE tournament_entries (
    tournament_id TEXT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    player_id     TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    joined_at     BIGINT NOT NULL,
    PRIMARY KEY (tournament_id, player_id)
);

-- The fixed result of a finished tournament: a row per rewarded entrant, paid (paid_at set)
-- in the same transaction as its ledger rows, so a restart pays each row exactly once.
-- failure: why a row that could never be paid (an item since removed, a wallet at its cap)
-- was settled without paying.
CREATE TABLE tournament_payouts (
    tournament_id TEXT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    player_id     TEXT NOT NULL,
    rank          BIGINT NOT NULL,
    score         BIGINT NOT NULL,
    rewards       TEXT NOT NULL,
    paid_at       BIGINT,
    failure       TEXT,
    PRIMARY KEY (tournament_id, player_id)
);

CREATE TABLE notifications (
    id        TEXT PRIMARY KEY,
    player_id TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    type      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    content   TEXT NOT NULL,
    read      BIGINT NOT NULL,
    sent_at   BIGINT NOT NULL
);
CREATE INDEX notifications_player ON notifications (player_id, sent_at);
