"""Face preparation for face and skin tasks: landmarks (mediapipe FaceMesh), skin regions
drawn from them, capture quality, and skin tone as the Individual Typology Angle."""
