"""Great-circle distance, and a rough location for a ship-to address that has no coordinates.

Order addresses carry no coordinates, so the ship-to is estimated from a small table: a few US
3-digit ZIP prefixes (metro areas), then the ZIP's first digit (the ten national areas), then the
country's centroid. Good enough to rank sources a few hundred kilometres apart, which is all DOM
asks of it; every estimate says which basis it used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from orderflow.models.fulfillment import GeoPoint

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)

# Metro areas by 3-digit ZIP prefix.
US_ZIP3: dict[str, tuple[float, float]] = {
    "021": (42.36, -71.06),  # Boston
    "100": (40.71, -74.01),  # New York
    "191": (39.95, -75.17),  # Philadelphia
    "200": (38.91, -77.04),  # Washington
    "303": (33.75, -84.39),  # Atlanta
    "331": (25.76, -80.19),  # Miami
    "606": (41.88, -87.63),  # Chicago
    "752": (32.78, -96.80),  # Dallas
    "770": (29.76, -95.37),  # Houston
    "787": (30.27, -97.74),  # Austin
    "802": (39.74, -104.99),  # Denver
    "850": (33.45, -112.07),  # Phoenix
    "891": (36.17, -115.14),  # Las Vegas
    "900": (34.05, -118.24),  # Los Angeles
    "941": (37.77, -122.42),  # San Francisco
    "972": (45.52, -122.68),  # Portland
    "981": (47.61, -122.33),  # Seattle
}

# The ten national areas by the ZIP's first digit (a central city of each).
US_ZIP1: dict[str, tuple[float, float]] = {
    "0": (42.36, -71.06),
    "1": (40.71, -74.01),
    "2": (38.91, -77.04),
    "3": (33.75, -84.39),
    "4": (39.10, -84.51),
    "5": (44.98, -93.27),
    "6": (41.88, -87.63),
    "7": (32.78, -96.80),
    "8": (39.74, -104.99),
    "9": (34.05, -118.24),
}

COUNTRY_CENTROIDS: dict[str, tuple[float, float]] = {
    "US": (39.83, -98.58),
    "CA": (56.13, -106.35),
    "MX": (23.63, -102.55),
    "GB": (54.00, -2.00),
    "IE": (53.41, -8.24),
    "DE": (51.17, 10.45),
    "FR": (46.23, 2.21),
    "NL": (52.13, 5.29),
    "BE": (50.50, 4.47),
    "ES": (40.46, -3.75),
    "IT": (41.87, 12.57),
    "PL": (51.92, 19.15),
    "SE": (60.13, 18.64),
    "AU": (-25.27, 133.78),
    "NZ": (-40.90, 174.89),
    "JP": (36.20, 138.25),
    "BR": (-14.24, -51.93),
    "IN": (20.59, 78.96),
}


@dataclass(frozen=True)
class Located:
    point: GeoPoint | None
    basis: str  # "coordinates" | "zip3" | "zip1" | "country" | "unknown"

    @property
    def estimated(self) -> bool:
        return self.basis != "coordinates"


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def locate(zip_code: str, country_iso2: str, point: GeoPoint | None = None) -> Located:
    """Where an address is: its own coordinates when it has them, else the best table estimate."""
    if point is not None:
        return Located(point, "coordinates")
    country = country_iso2.strip().upper()
    digits = "".join(c for c in zip_code if c.isdigit())
    if country in ("US", "") and len(digits) >= 3:
        if digits[:3] in US_ZIP3:
            return Located(_point(US_ZIP3[digits[:3]]), "zip3")
        if country == "US" or len(digits) in (5, 9):
            return Located(_point(US_ZIP1[digits[0]]), "zip1")
    if country in COUNTRY_CENTROIDS:
        return Located(_point(COUNTRY_CENTROIDS[country]), "country")
    return Located(None, "unknown")


def _point(pair: tuple[float, float]) -> GeoPoint:
    return GeoPoint(latitude=pair[0], longitude=pair[1])
