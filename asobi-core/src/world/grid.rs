//! Zone grid math (`worlds.md` §1, §6): which zone owns a position, the interest ring around
//! a zone, crossing hysteresis, and clamping back into a zone.

/// A zone's integer coordinates.
pub type ZoneCoord = (i32, i32);

/// The grid of a world: `grid_size × grid_size` zones of `zone_size` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Zones per axis.
    pub grid_size: u32,
    /// Units per zone side.
    pub zone_size: u32,
}

impl Grid {
    /// A grid; sizes of 0 are treated as 1.
    pub fn new(grid_size: u32, zone_size: u32) -> Self {
        Grid {
            grid_size: grid_size.max(1),
            zone_size: zone_size.max(1),
        }
    }

    /// The zone owning a position: `trunc(x) / zone_size`, clamped into the grid, so positions
    /// outside the world belong to the nearest edge zone.
    pub fn zone_of(&self, x: f64, y: f64) -> ZoneCoord {
        (self.axis(x), self.axis(y))
    }

    fn axis(&self, v: f64) -> i32 {
        let t = if v.is_finite() { v.trunc() } else { 0.0 };
        let z = (t / f64::from(self.zone_size)).floor();
        z.clamp(0.0, f64::from(self.grid_size - 1)) as i32
    }

    /// Whether a zone is inside the grid.
    pub fn contains(&self, (x, y): ZoneCoord) -> bool {
        let n = self.grid_size as i32;
        (0..n).contains(&x) && (0..n).contains(&y)
    }

    /// The square ring of zones within `radius` of `center`, clamped to the grid.
    pub fn ring(&self, center: ZoneCoord, radius: u32) -> Vec<ZoneCoord> {
        let r = radius as i32;
        let mut out = Vec::with_capacity(((2 * r + 1) * (2 * r + 1)) as usize);
        for y in center.1 - r..=center.1 + r {
            for x in center.0 - r..=center.0 + r {
                if self.contains((x, y)) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    /// The zone's rectangle origin.
    pub fn origin(&self, (zx, zy): ZoneCoord) -> (f64, f64) {
        (
            f64::from(zx) * f64::from(self.zone_size),
            f64::from(zy) * f64::from(self.zone_size),
        )
    }

    /// Whether a position has left `zone` by more than `margin` units on some side (the
    /// crossing hysteresis).
    pub fn left_zone(&self, zone: ZoneCoord, x: f64, y: f64, margin: f64) -> bool {
        let (lx, ly) = self.origin(zone);
        let size = f64::from(self.zone_size);
        x < lx - margin || x >= lx + size + margin || y < ly - margin || y >= ly + size + margin
    }

    /// Clamps a position into a zone's rectangle.
    pub fn clamp_into(&self, zone: ZoneCoord, x: f64, y: f64) -> (f64, f64) {
        let (lx, ly) = self.origin(zone);
        let hi = f64::from(self.zone_size) - 1e-6;
        (x.clamp(lx, lx + hi), y.clamp(ly, ly + hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_to_clamped_zones() {
        let g = Grid::new(10, 200);
        assert_eq!(g.zone_of(0.0, 0.0), (0, 0));
        assert_eq!(g.zone_of(199.9, 200.0), (0, 1));
        assert_eq!(g.zone_of(-50.0, 5000.0), (0, 9));
        assert_eq!(g.zone_of(f64::NAN, 399.0), (0, 1));
    }

    #[test]
    fn rings_are_clamped_squares() {
        let g = Grid::new(10, 200);
        assert_eq!(g.ring((5, 5), 1).len(), 9);
        assert_eq!(g.ring((0, 0), 1), vec![(0, 0), (1, 0), (0, 1), (1, 1)]);
        assert_eq!(g.ring((3, 3), 0), vec![(3, 3)]);
        assert_eq!(g.ring((9, 9), 2).len(), 9);
    }

    #[test]
    fn crossing_needs_the_margin_and_clamping_stays_inside() {
        let g = Grid::new(10, 200);
        assert!(!g.left_zone((1, 1), 229.0, 300.0, 30.0));
        assert!(g.left_zone((1, 1), 169.9, 300.0, 30.0));
        assert!(g.left_zone((1, 1), 430.0, 300.0, 30.0));
        let (x, y) = g.clamp_into((1, 1), 900.0, -3.0);
        assert!(x < 400.0 && x > 399.9 && y == 200.0);
    }
}
