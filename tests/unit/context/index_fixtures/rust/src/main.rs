mod geometry;

use crate::geometry::area;

fn main() {
    println!("{}", area(2.0, 3.0));
}
