#pragma once

namespace geo {

/// Area of a circle of radius r.
double circle_area(double r);

}  // namespace geo
