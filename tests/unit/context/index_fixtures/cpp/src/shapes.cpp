#include "geo/shapes.hpp"

namespace geo {

double circle_area(double r) {
    return 3.14159 * r * r;
}

}  // namespace geo
