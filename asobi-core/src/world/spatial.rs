//! A uniform-grid spatial hash over a zone's entities: radius and rectangle queries touch only
//! the cells they overlap instead of every entity.

use std::collections::HashMap;

/// Entities bucketed by cell.
#[derive(Debug, Clone, Default)]
pub struct SpatialHash {
    cell: f64,
    cells: HashMap<(i64, i64), Vec<usize>>,
    points: Vec<(String, f64, f64)>,
}

impl SpatialHash {
    /// Indexes `(id, x, y)` points into square cells of `cell` units (at least 1).
    pub fn build(points: impl IntoIterator<Item = (String, f64, f64)>, cell: f64) -> Self {
        let cell = if cell.is_finite() && cell >= 1.0 {
            cell
        } else {
            1.0
        };
        let mut h = SpatialHash {
            cell,
            cells: HashMap::new(),
            points: Vec::new(),
        };
        for (i, (id, x, y)) in points
            .into_iter()
            .filter(|(_, x, y)| x.is_finite() && y.is_finite())
            .enumerate()
        {
            h.cells.entry(h.key(x, y)).or_default().push(i);
            h.points.push((id, x, y));
        }
        h
    }

    fn key(&self, x: f64, y: f64) -> (i64, i64) {
        (
            (x / self.cell).floor() as i64,
            (y / self.cell).floor() as i64,
        )
    }

    fn in_cells(
        &self,
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
    ) -> impl Iterator<Item = &(String, f64, f64)> {
        let (a, b) = (self.key(x1, y1), self.key(x2, y2));
        // Bound the cell walk by the number of occupied cells, so a huge query stays cheap.
        let width = (i128::from(b.0) - i128::from(a.0) + 1).max(0) as u128;
        let height = (i128::from(b.1) - i128::from(a.1) + 1).max(0) as u128;
        let span = width.saturating_mul(height);
        let keys: Vec<(i64, i64)> = if span > self.cells.len() as u128 {
            self.cells
                .keys()
                .filter(|k| (a.0..=b.0).contains(&k.0) && (a.1..=b.1).contains(&k.1))
                .copied()
                .collect()
        } else {
            (a.1..=b.1)
                .flat_map(|cy| (a.0..=b.0).map(move |cx| (cx, cy)))
                .collect()
        };
        keys.into_iter()
            .filter_map(|k| self.cells.get(&k))
            .flatten()
            .map(|i| &self.points[*i])
    }

    /// Points within `r` of (x, y), nearest first: `(id, x, y, distance)`.
    pub fn radius(&self, x: f64, y: f64, r: f64) -> Vec<(&str, f64, f64, f64)> {
        if !(r.is_finite() && r >= 0.0) {
            return Vec::new();
        }
        let mut out: Vec<(&str, f64, f64, f64)> = self
            .in_cells(x - r, y - r, x + r, y + r)
            .map(|(id, px, py)| {
                (
                    id.as_str(),
                    *px,
                    *py,
                    ((px - x).powi(2) + (py - y).powi(2)).sqrt(),
                )
            })
            .filter(|p| p.3 <= r)
            .collect();
        out.sort_by(|a, b| a.3.total_cmp(&b.3).then_with(|| a.0.cmp(b.0)));
        out
    }

    /// Points inside the rectangle (inclusive), in id order: `(id, x, y)`.
    pub fn rect(&self, x1: f64, y1: f64, x2: f64, y2: f64) -> Vec<(&str, f64, f64)> {
        let (lx, hx, ly, hy) = (x1.min(x2), x1.max(x2), y1.min(y2), y1.max(y2));
        let mut out: Vec<(&str, f64, f64)> = self
            .in_cells(lx, ly, hx, hy)
            .filter(|(_, x, y)| (lx..=hx).contains(x) && (ly..=hy).contains(y))
            .map(|(id, x, y)| (id.as_str(), *x, *y))
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_match_a_linear_scan() {
        let mut seed = 7u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 10_000) as f64 / 10.0
        };
        let points: Vec<(String, f64, f64)> =
            (0..500).map(|i| (format!("e{i}"), rnd(), rnd())).collect();
        let h = SpatialHash::build(points.clone(), 25.0);
        for (x, y, r) in [(500.0, 500.0, 60.0), (0.0, 0.0, 5.0), (999.0, 10.0, 300.0)] {
            let got: Vec<&str> = h.radius(x, y, r).iter().map(|p| p.0).collect();
            let mut want: Vec<(&str, f64)> = points
                .iter()
                .map(|(id, px, py)| (id.as_str(), ((px - x).powi(2) + (py - y).powi(2)).sqrt()))
                .filter(|p| p.1 <= r)
                .collect();
            want.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
            assert_eq!(got, want.iter().map(|p| p.0).collect::<Vec<_>>());
        }
        let rect: Vec<&str> = h
            .rect(100.0, 100.0, 200.0, 300.0)
            .iter()
            .map(|p| p.0)
            .collect();
        let mut want: Vec<&str> = points
            .iter()
            .filter(|(_, x, y)| (100.0..=200.0).contains(x) && (100.0..=300.0).contains(y))
            .map(|(id, _, _)| id.as_str())
            .collect();
        want.sort();
        assert_eq!(rect, want);
        assert!(
            h.rect(-1e18, -1e18, 1e18, 1e18).len() == 500,
            "a huge rectangle stays cheap and complete"
        );
    }
}
