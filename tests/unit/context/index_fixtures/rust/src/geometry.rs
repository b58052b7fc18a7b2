/// Area of a rectangle.
pub fn area(width: f64, height: f64) -> f64 {
    width * height
}
