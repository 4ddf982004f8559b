//! Groups and their members: see the parent module for the rules.

use serde_json::{Map, Value, json};
use sqlx::{AnyConnection, Row};

use super::{Social, SocialError};
use crate::time::iso8601;

/// The most members a group may allow.
pub const MAX_MEMBERS: i64 = 10_000;

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Rank 0.
    Member,
    /// Rank 50.
    Moderator,
    /// Rank 75.
    Admin,
    /// Rank 100.
    Owner,
}

impl Role {
    /// Parses `owner`/`admin`/`moderator`/`member`.
    pub fn parse(s: &str) -> Result<Role, SocialError> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "moderator" => Ok(Role::Moderator),
            "member" => Ok(Role::Member),
            _ => Err(SocialError::InvalidRole),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Moderator => "moderator",
            Role::Member => "member",
        }
    }
}

/// A group row `{id, name, description, max_members, open, creator_id, metadata,
/// inserted_at, updated_at}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Id.
    pub id: String,
    /// Name, 2–64 characters.
    pub name: String,
    /// Up to 1,024 characters.
    pub description: String,
    /// Member cap.
    pub max_members: i64,
    /// Anyone may join.
    pub open: bool,
    /// Who created it (null once erased).
    pub creator_id: Option<String>,
    /// Free-form.
    pub metadata: Value,
    /// Created, Unix ms.
    pub inserted_at: i64,
    /// Last changed, Unix ms.
    pub updated_at: i64,
}

impl Group {
    /// The REST row.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "max_members": self.max_members,
            "open": self.open,
            "creator_id": self.creator_id,
            "metadata": self.metadata,
            "inserted_at": iso8601(self.inserted_at),
            "updated_at": iso8601(self.updated_at),
        })
    }
}

/// A member row `{id, group_id, player_id, role, joined_at}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Row id.
    pub id: String,
    /// The group.
    pub group_id: String,
    /// The player.
    pub player_id: String,
    /// `owner`, `admin`, `moderator` or `member`.
    pub role: String,
    /// Joined, Unix ms.
    pub joined_at: i64,
}

impl Member {
    /// The REST row.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "group_id": self.group_id,
            "player_id": self.player_id,
            "role": self.role,
            "joined_at": iso8601(self.joined_at),
        })
    }
}

/// The fields `PUT /groups/:id` may change (and `POST /groups` sets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupPatch {
    /// 2–64 characters.
    pub name: Option<String>,
    /// Up to 1,024 characters.
    pub description: Option<String>,
    /// 1…10,000.
    pub max_members: Option<i64>,
    /// Open to joins.
    pub open: Option<bool>,
    /// Free-form object.
    pub metadata: Option<Map<String, Value>>,
}

impl GroupPatch {
    /// Reads a JSON body; wrongly typed fields are validation errors.
    pub fn from_json(body: &Map<String, Value>) -> Result<GroupPatch, SocialError> {
        let mut errors = Map::new();
        let mut bad = |f: &str, m: &str| {
            errors.insert(f.to_owned(), json!([m]));
        };
        let mut p = GroupPatch::default();
        match body.get("name") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => p.name = Some(s.clone()),
            Some(_) => bad("name", "must be a string"),
        }
        match body.get("description") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => p.description = Some(s.clone()),
            Some(_) => bad("description", "must be a string"),
        }
        match body.get("max_members") {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_i64() {
                Some(n) => p.max_members = Some(n),
                None => bad("max_members", "must be an integer"),
            },
        }
        match body.get("open") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => p.open = Some(*b),
            Some(_) => bad("open", "must be a boolean"),
        }
        match body.get("metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => p.metadata = Some(m.clone()),
            Some(_) => bad("metadata", "must be an object"),
        }
        if let Some(n) = &p.name
            && !(2..=64).contains(&n.chars().count())
        {
            bad("name", "must be 2-64 characters");
        }
        if let Some(d) = &p.description
            && d.chars().count() > 1024
        {
            bad("description", "must be at most 1024 characters");
        }
        if let Some(m) = p.max_members
            && !(1..=MAX_MEMBERS).contains(&m)
        {
            bad("max_members", "must be 1-10000");
        }
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(SocialError::Invalid(errors))
        }
    }
}

macro_rules! group_columns {
    () => {
        "id, name, description, max_members, open, creator_id, metadata, inserted_at, updated_at"
    };
}

fn decode_group(r: &sqlx::any::AnyRow) -> Result<Group, SocialError> {
    let open: i64 = r.try_get(4)?;
    let metadata: String = r.try_get(6)?;
    Ok(Group {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        max_members: r.try_get(3)?,
        open: open != 0,
        creator_id: r.try_get(5)?,
        metadata: serde_json::from_str(&metadata)?,
        inserted_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
    })
}

fn decode_member(r: &sqlx::any::AnyRow) -> Result<Member, sqlx::Error> {
    Ok(Member {
        id: r.try_get(0)?,
        group_id: r.try_get(1)?,
        player_id: r.try_get(2)?,
        role: r.try_get(3)?,
        joined_at: r.try_get(4)?,
    })
}

async fn group_in(conn: &mut AnyConnection, id: &str) -> Result<Group, SocialError> {
    let r = sqlx::query(concat!(
        "SELECT ",
        group_columns!(),
        " FROM social_groups WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref()
        .map(decode_group)
        .transpose()?
        .ok_or(SocialError::GroupNotFound)
}

async fn member_in(
    conn: &mut AnyConnection,
    group: &str,
    player: &str,
) -> Result<Option<Member>, SocialError> {
    let r = sqlx::query(
        "SELECT id, group_id, player_id, role, joined_at FROM social_group_members \
         WHERE group_id = $1 AND player_id = $2",
    )
    .bind(group)
    .bind(player)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(r.as_ref().map(decode_member).transpose()?)
}

async fn add_member(
    conn: &mut AnyConnection,
    group: &str,
    player: &str,
    role: Role,
    now: i64,
) -> Result<Member, SocialError> {
    let r = sqlx::query(
        "INSERT INTO social_group_members (id, group_id, player_id, role, joined_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, group_id, player_id, role, joined_at",
    )
    .bind(crate::new_id())
    .bind(group)
    .bind(player)
    .bind(role.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(decode_member(&r)?)
}

fn role_of(m: &Member) -> Role {
    Role::parse(&m.role).unwrap_or(Role::Member)
}

impl Social {
    /// `POST /groups`: `name` is required; the creator becomes its owner.
    pub async fn create_group(
        &self,
        player: &str,
        patch: &GroupPatch,
    ) -> Result<Group, SocialError> {
        let Some(name) = &patch.name else {
            return Err(SocialError::field("name", "is required"));
        };
        let now = self.clock.now_ms();
        let id = crate::new_id();
        let mut tx = self.db.serialized(&format!("group:{id}")).await?;
        sqlx::query(
            "INSERT INTO social_groups (id, name, description, max_members, open, creator_id, \
             metadata, inserted_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(name)
        .bind(patch.description.as_deref().unwrap_or(""))
        .bind(patch.max_members.unwrap_or(50))
        .bind(i64::from(patch.open.unwrap_or(false)))
        .bind(player)
        .bind(Value::Object(patch.metadata.clone().unwrap_or_default()).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        add_member(&mut tx, &id, player, Role::Owner, now).await?;
        let group = group_in(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(group)
    }

    /// `GET /groups/:id`.
    pub async fn group(&self, id: &str) -> Result<Group, SocialError> {
        let mut conn = self.db.pool().acquire().await?;
        group_in(&mut conn, id).await
    }

    /// `PUT /groups/:id`: admins and the owner only.
    pub async fn update_group(
        &self,
        player: &str,
        id: &str,
        patch: &GroupPatch,
    ) -> Result<Group, SocialError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&format!("group:{id}")).await?;
        let group = group_in(&mut tx, id).await?;
        match member_in(&mut tx, id, player).await? {
            Some(m) if role_of(&m) >= Role::Admin => {}
            _ => return Err(SocialError::Forbidden),
        }
        let metadata = patch
            .metadata
            .clone()
            .map(Value::Object)
            .unwrap_or(group.metadata);
        sqlx::query(
            "UPDATE social_groups SET name = $1, description = $2, max_members = $3, open = $4, \
             metadata = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(patch.name.as_deref().unwrap_or(&group.name))
        .bind(patch.description.as_deref().unwrap_or(&group.description))
        .bind(patch.max_members.unwrap_or(group.max_members))
        .bind(i64::from(patch.open.unwrap_or(group.open)))
        .bind(metadata.to_string())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let group = group_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(group)
    }

    /// `POST /groups/:id/join`.
    pub async fn join_group(&self, player: &str, id: &str) -> Result<Member, SocialError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&format!("group:{id}")).await?;
        let group = group_in(&mut tx, id).await?;
        if member_in(&mut tx, id, player).await?.is_some() {
            return Err(SocialError::AlreadyMember);
        }
        if !group.open {
            return Err(SocialError::GroupClosed);
        }
        let count: i64 =
            sqlx::query("SELECT COUNT(*) FROM social_group_members WHERE group_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if count >= group.max_members {
            return Err(SocialError::GroupFull);
        }
        let m = add_member(&mut tx, id, player, Role::Member, now).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// `POST /groups/:id/leave`: always succeeds. An owner leaving hands the group to the
    /// longest-standing highest-ranked member; the last one out deletes it.
    pub async fn leave_group(&self, player: &str, id: &str) -> Result<(), SocialError> {
        let mut tx = self.db.serialized(&format!("group:{id}")).await?;
        let gone =
            sqlx::query("DELETE FROM social_group_members WHERE group_id = $1 AND player_id = $2")
                .bind(id)
                .bind(player)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if gone == 1 {
            self.after_departure(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// After members left (or were erased): a group with nobody left is deleted; one with
    /// no owner left (the owner was among them; only a departure removes the one owner) gets
    /// the longest-standing highest-ranked member as owner.
    async fn after_departure(&self, conn: &mut AnyConnection, id: &str) -> Result<(), SocialError> {
        let rest = self.members_in(conn, id).await?;
        if rest.is_empty() {
            sqlx::query("DELETE FROM social_groups WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        } else if !rest.iter().any(|m| role_of(m) == Role::Owner)
            && let Some(heir) = rest.iter().max_by(|a, b| {
                role_of(a)
                    .cmp(&role_of(b))
                    .then(b.joined_at.cmp(&a.joined_at))
            })
        {
            sqlx::query("UPDATE social_group_members SET role = 'owner' WHERE id = $1")
                .bind(&heir.id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// `GET /groups/:id/members`, by join time.
    pub async fn members(&self, id: &str) -> Result<Vec<Member>, SocialError> {
        let mut conn = self.db.pool().acquire().await?;
        self.members_in(&mut conn, id).await
    }

    async fn members_in(
        &self,
        conn: &mut AnyConnection,
        id: &str,
    ) -> Result<Vec<Member>, SocialError> {
        let rows = sqlx::query(
            "SELECT id, group_id, player_id, role, joined_at FROM social_group_members \
             WHERE group_id = $1 ORDER BY joined_at, id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.iter().map(decode_member).collect::<Result<_, _>>()?)
    }

    /// The groups `player` is a member of.
    pub async fn groups_of(&self, player: &str) -> Result<Vec<String>, SocialError> {
        let rows = sqlx::query("SELECT group_id FROM social_group_members WHERE player_id = $1")
            .bind(player)
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    /// After a member was erased (their member rows went with them): each of `groups` left
    /// without members is deleted, and one left without an owner gets the longest-standing
    /// highest-ranked member as owner.
    pub async fn after_erase(&self, groups: &[String]) -> Result<(), SocialError> {
        for id in groups {
            let mut tx = self.db.serialized(&format!("group:{id}")).await?;
            self.after_departure(&mut tx, id).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Whether `player` is a member of `group` (chat's `room:` channels).
    pub async fn is_member(&self, group: &str, player: &str) -> Result<bool, SocialError> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(member_in(&mut conn, group, player).await?.is_some())
    }

    /// `PUT /groups/:id/members/:player_id/role`.
    pub async fn set_role(
        &self,
        actor: &str,
        id: &str,
        target: &str,
        role: &str,
    ) -> Result<Member, SocialError> {
        let role = Role::parse(role)?;
        let mut tx = self.db.serialized(&format!("group:{id}")).await?;
        let (Some(me), Some(them)) = (
            member_in(&mut tx, id, actor).await?,
            member_in(&mut tx, id, target).await?,
        ) else {
            return Err(SocialError::MemberNotFound);
        };
        let mine = role_of(&me);
        if mine < Role::Admin || mine <= role || role == Role::Owner || mine <= role_of(&them) {
            return Err(SocialError::Forbidden);
        }
        sqlx::query("UPDATE social_group_members SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(&them.id)
            .execute(&mut *tx)
            .await?;
        let updated = member_in(&mut tx, id, target)
            .await?
            .ok_or(SocialError::MemberNotFound)?;
        tx.commit().await?;
        Ok(updated)
    }

    /// `DELETE /groups/:id/members/:player_id`: moderators and above, over lower ranks.
    pub async fn kick(&self, actor: &str, id: &str, target: &str) -> Result<(), SocialError> {
        let mut tx = self.db.serialized(&format!("group:{id}")).await?;
        let (Some(me), Some(them)) = (
            member_in(&mut tx, id, actor).await?,
            member_in(&mut tx, id, target).await?,
        ) else {
            return Err(SocialError::MemberNotFound);
        };
        if role_of(&me) < Role::Moderator || role_of(&me) <= role_of(&them) {
            return Err(SocialError::Forbidden);
        }
        sqlx::query("DELETE FROM social_group_members WHERE id = $1")
            .bind(&them.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
